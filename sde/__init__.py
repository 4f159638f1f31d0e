"""Dynamics: noise models, discrete optimizers and their engine, SDE and Slow-SDE approximations."""

from implicit_bias_lab.sde.noise import (
    NOISES,
    AbstractNoise,
    IsotropicNoise,
    LabelNoise,
    MinibatchNoise,
    NoNoise,
    make_noise,
)
from implicit_bias_lab.sde.slow import integrate_slow_flow, slow_velocity

__all__ = [
    "AbstractNoise",
    "IsotropicNoise",
    "LabelNoise",
    "MinibatchNoise",
    "NOISES",
    "NoNoise",
    "integrate_slow_flow",
    "make_noise",
    "slow_velocity",
]
