"""Dynamics: noise models, discrete optimizers and their engine, SDE and Slow-SDE approximations."""

import models  # noqa: F401  (turns on float64 mode before any array is made)
from sde.noise import (
    NOISES,
    AbstractNoise,
    IsotropicNoise,
    LabelNoise,
    MinibatchNoise,
    NoNoise,
    make_noise,
)

__all__ = [
    "AbstractNoise",
    "IsotropicNoise",
    "LabelNoise",
    "MinibatchNoise",
    "NOISES",
    "NoNoise",
    "make_noise",
]
