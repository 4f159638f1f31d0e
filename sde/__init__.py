"""Dynamics: noise models, discrete optimizers and their engine, SDE and Slow-SDE approximations,
and the exact closed-form dynamics of GD and SGD on noisy quadratics and linear nets (`sde.closed_form`).

The problems these dynamics run on (parameters, predictions, data, Γ) live in `models`.

This page re-exports the entry points a user calls; each submodule's `__all__` lists the rest of its
public names (`sde.manifold`, `sde.slow`, `sde.slow_diagonal`, `sde.slow_diagonal_state`,
`sde.first_order`, `sde.discrete`, `sde.families`, `sde.closed_form`); names with a leading
underscore are private."""

from implicit_bias_lab.sde.discrete import Simulation, simulate, simulate_antithetic, simulate_runs
from implicit_bias_lab.sde.families import FAMILIES, AbstractOptimizerFamily, get_family
from implicit_bias_lab.sde.integrators import rk4, rk4_step
from implicit_bias_lab.sde.manifold import retract_to_manifold
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
from implicit_bias_lab.sde.slow import SlowFlowSolution, integrate_slow_flow, slow_velocity
from implicit_bias_lab.sde.slow_diagonal import integrate_adam_flow, integrate_sgd_flow
from implicit_bias_lab.sde.slow_diagonal_state import integrate_adam_state_flow
from implicit_bias_lab.sde.status import STATUS_NAMES, RunStatus

__all__ = [
    "FAMILIES",
    "RunStatus",
    "STATUS_NAMES",
    "Simulation",
    "SlowFlowSolution",
    "AbstractNoise",
    "AbstractOptimizerFamily",
    "AntitheticNoise",
    "IsotropicNoise",
    "LabelNoise",
    "MinibatchNoise",
    "NOISES",
    "NoNoise",
    "get_family",
    "integrate_adam_flow",
    "integrate_adam_state_flow",
    "integrate_sgd_flow",
    "integrate_slow_flow",
    "make_noise",
    "retract_to_manifold",
    "rk4",
    "rk4_step",
    "simulate",
    "simulate_antithetic",
    "simulate_runs",
    "slow_velocity",
]
