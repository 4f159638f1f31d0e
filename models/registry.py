"""Models by name, for configs and the command line."""

from __future__ import annotations

from implicit_bias_lab.models.base import AbstractModel
from implicit_bias_lab.models.deep_linear import DeepLinearNet
from implicit_bias_lab.models.diagonal_net import DiagonalNet
from implicit_bias_lab.models.quadratic import LinearModel
from implicit_bias_lab.models.toys import NoisyEllipse, ProductToy

MODELS: dict[str, type[AbstractModel]] = {
    "linear": LinearModel,
    "diagonal_net": DiagonalNet,
    "deep_linear": DeepLinearNet,
    "product_toy": ProductToy,
    "noisy_ellipse": NoisyEllipse,
}


def make_model(name: str, **kwargs) -> AbstractModel:
    """Build a model by name; an unknown name raises a ValueError listing the known ones."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](**kwargs)
