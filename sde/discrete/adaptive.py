"""Adaptive gradient methods (Adam, RMSprop, AdamE-λ) as Optax-style init/update pairs.

The AGM class of Li–Wen–Lyu (NeurIPS 2025, §4) with Adam's diagonal second moment:
  m_{k+1} = β₁ m_k + (1 − β₁) g_k,
  v_{k+1} = β₂ v_k + (1 − β₂) g_k⊙g_k,
  θ_{k+1} = θ_k − η m̂_{k+1} / (v̂_{k+1}^λ + ε),
with m̂ = m_{k+1}/(1 − β₁^{k+1}), v̂ = v_{k+1}/(1 − β₂^{k+1}) when `bias_correction` is on and
m̂ = m_{k+1}, v̂ = v_{k+1} when it is off (the theory's setting: no bias correction, v_{k+1} in
the step). λ = ½ is Adam (Kingma & Ba 2015), β₁ = 0 RMSprop (Tieleman & Hinton 2012), other
λ ∈ [0, 1) AdamE-λ (Li–Wen–Lyu §5). With bias correction on and λ = ½ this is `optax.adam`
update for update; optax has no switch to turn the correction off, and `optax.rmsprop` puts ε
inside the square root, hence this module.

The state's v can be replaced before a run (`state._replace(v=...)`), e.g. by v₀ = c·diag H as
in the slow-SDE checks.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from implicit_bias_lab.sde.discrete.validation import check_nonnegative, check_positive, check_unit_interval


class AdaptiveState(NamedTuple):
    count: jax.Array
    m: jax.Array
    v: jax.Array


def adaptive(
    learning_rate: float,
    b1: float,
    b2: float,
    eps: float,
    exponent: float = 0.5,
    bias_correction: bool = False,
) -> optax.GradientTransformation:
    """The general rule above; `exponent` is λ."""
    check_positive("learning_rate", learning_rate)
    check_unit_interval("b1", b1)
    check_unit_interval("b2", b2)
    check_nonnegative("eps", eps)
    check_unit_interval("exponent", exponent)

    def init(params):
        zeros = jnp.zeros_like(params)
        return AdaptiveState(jnp.zeros((), jnp.int32), zeros, zeros)

    def update(grads, state, params=None):
        count = state.count + 1
        m = b1 * state.m + (1 - b1) * grads
        v = b2 * state.v + (1 - b2) * grads * grads
        if bias_correction:
            k = count.astype(grads.dtype)
            m_hat, v_hat = m / (1 - b1**k), v / (1 - b2**k)
        else:
            m_hat, v_hat = m, v
        scale = jnp.sqrt(v_hat) if exponent == 0.5 else v_hat**exponent
        return -learning_rate * m_hat / (scale + eps), AdaptiveState(count, m, v)

    return optax.GradientTransformation(init, update)


def adam(
    learning_rate: float, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, bias_correction: bool = True
) -> optax.GradientTransformation:
    """Adam: λ = ½."""
    return adaptive(learning_rate, b1, b2, eps, 0.5, bias_correction)


def rmsprop(learning_rate: float, decay: float = 0.99, eps: float = 1e-8) -> optax.GradientTransformation:
    """RMSprop: β₁ = 0, λ = ½, no bias correction, ε outside the square root."""
    check_unit_interval("decay", decay)
    return adaptive(learning_rate, 0.0, decay, eps, 0.5, False)


def adame(
    learning_rate: float,
    lam: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    bias_correction: bool = False,
) -> optax.GradientTransformation:
    """AdamE-λ: S = 1/(v^λ + ε) (Li–Wen–Lyu 2025 §5); λ = ½ is Adam, λ → 0 SGD with momentum."""
    check_unit_interval("lam", lam)
    return adaptive(learning_rate, b1, b2, eps, lam, bias_correction)
