"""Optimizer families by name: the one place where a name becomes a family."""

from __future__ import annotations

from implicit_bias_lab.sde.families.adam import Adam, DiagonalAdaptive, RMSprop
from implicit_bias_lab.sde.families.adam_mini import Adalayer, AdamMini
from implicit_bias_lab.sde.families.base import AbstractOptimizerFamily
from implicit_bias_lab.sde.families.sgd import SGD
from implicit_bias_lab.sde.families.shampoo import Shampoo

#: name → family class; a new family is one file plus one line here (docs/guide.md#optimizer-families)
FAMILIES: dict[str, type[AbstractOptimizerFamily]] = {
    "sgd": SGD,
    "adam": Adam,
    "rmsprop": RMSprop,
    "adame": DiagonalAdaptive,
    "adam_mini": AdamMini,
    "adalayer": Adalayer,
    "shampoo": Shampoo,
}
#: names that run a family with its noise switched off ("gd" is SGD without label noise)
ALIASES: dict[str, str] = {"gd": "sgd"}
#: the names that run with the noise switched off
NOISELESS: frozenset[str] = frozenset(ALIASES)


def get_family(name: str, model=None, **structure) -> AbstractOptimizerFamily:
    """The family called `name` with its structural fields (`power` for "adame", `blocks` for
    "adam_mini"/"adalayer", `shapes` for "shampoo"), or with the structure it takes on `model`
    (`for_model`); a ValueError names what is wrong."""
    key = ALIASES.get(name, name)
    if key not in FAMILIES:
        raise ValueError(f"optimizer must be one of {sorted(FAMILIES) + sorted(ALIASES)}, got {name!r}")
    try:
        if model is not None and not structure:
            return FAMILIES[key].for_model(model)
        return FAMILIES[key](**structure)
    except TypeError as err:
        raise ValueError(f"bad structure for optimizer family {name!r}: {err}") from None
