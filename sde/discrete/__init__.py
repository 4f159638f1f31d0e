"""Discrete optimizers (Optax-style init/update pairs) and the scan engine that runs them."""

from implicit_bias_lab.sde.discrete.adaptive import AdaptiveState, adam, adame, adaptive, rmsprop
from implicit_bias_lab.sde.discrete.registry import OPTIMIZERS, make_optimizer
from implicit_bias_lab.sde.discrete.sgd import SGDState, sgd
from implicit_bias_lab.sde.discrete.simulate import (
    RunStatus,
    Simulation,
    antithetic_pair_se,
    cast_floats,
    simulate,
    simulate_antithetic,
    simulate_runs,
)

__all__ = [
    "AdaptiveState",
    "OPTIMIZERS",
    "RunStatus",
    "SGDState",
    "Simulation",
    "adam",
    "adame",
    "adaptive",
    "antithetic_pair_se",
    "cast_floats",
    "make_optimizer",
    "rmsprop",
    "sgd",
    "simulate",
    "simulate_antithetic",
    "simulate_runs",
]
