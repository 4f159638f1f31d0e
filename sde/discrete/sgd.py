"""SGD with heavy-ball or Nesterov momentum, as an Optax-style init/update pair.

m_{k+1} = μ m_k + g_k,  θ_{k+1} = θ_k − η m_{k+1}   (Nesterov: θ_{k+1} = θ_k − η (g_k + μ m_{k+1})).
This is the PyTorch / `optax.sgd` convention (Polyak 1964; Sutskever et al. 2013), and matches
`optax.sgd(η, momentum=μ, nesterov=…)` update for update; μ = 0 is plain SGD.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from implicit_bias_lab.sde.discrete.validation import check_positive, check_unit_interval


class SGDState(NamedTuple):
    """The momentum buffer m (zeros at init; carried, unused, at μ = 0)."""

    momentum: jax.Array


def sgd(learning_rate: float, momentum: float = 0.0, nesterov: bool = False) -> optax.GradientTransformation:
    """SGD as an optax pair: m ← μm + g, θ ← θ − ηm (Nesterov: θ ← θ − η(g + μm)), the module's
    convention, equal to `optax.sgd(η, momentum=μ, nesterov=…)`. Raises ValueError naming
    `learning_rate` (must be > 0) or `momentum` (must lie in [0, 1))."""
    check_positive("learning_rate", learning_rate)
    check_unit_interval("momentum", momentum)

    def init(params):
        return SGDState(jnp.zeros_like(params))

    def update(grads, state, params=None):
        m = momentum * state.momentum + grads
        direction = grads + momentum * m if nesterov else m
        return -learning_rate * direction, SGDState(m)

    return optax.GradientTransformation(init, update)
