"""Optimizers by name, for configs and the command line."""

from __future__ import annotations

from typing import Callable

import optax

from implicit_bias_lab.sde.discrete.adaptive import adam, adame, rmsprop
from implicit_bias_lab.sde.discrete.sgd import sgd

OPTIMIZERS: dict[str, Callable[..., optax.GradientTransformation]] = {
    "sgd": sgd,
    "adam": adam,
    "rmsprop": rmsprop,
    "adame": adame,
}


def make_optimizer(name: str, **hyperparameters) -> optax.GradientTransformation:
    """Build an optimizer by name; unknown names and hyperparameters raise a ValueError."""
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}")
    try:
        return OPTIMIZERS[name](**hyperparameters)
    except TypeError as err:
        raise ValueError(f"bad hyperparameters for optimizer {name!r}: {err}") from None
