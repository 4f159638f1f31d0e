"""Dynamics: noise models, discrete optimizers and their engine, SDE and Slow-SDE approximations,
and the exact closed-form dynamics of GD and SGD on noisy quadratics and linear nets (`sde.closed_form`).

The problems these dynamics run on (parameters, predictions, data, Γ) live in `models`."""

from implicit_bias_lab.sde.families import FAMILIES, AbstractOptimizerFamily, get_family
from implicit_bias_lab.sde.noise import (
    NOISES,
    AbstractNoise,
    AntitheticNoise,
    IsotropicNoise,
    LabelNoise,
    MinibatchNoise,
    NoNoise,
    make_noise,
)
from implicit_bias_lab.sde.slow import integrate_slow_flow, slow_velocity

__all__ = [
    "FAMILIES",
    "AbstractNoise",
    "AbstractOptimizerFamily",
    "AntitheticNoise",
    "IsotropicNoise",
    "LabelNoise",
    "MinibatchNoise",
    "NOISES",
    "NoNoise",
    "get_family",
    "integrate_slow_flow",
    "make_noise",
    "slow_velocity",
]
