"""Exact GD with one learning rate per layer on a deep linear net, and its budget-line sweeps.

On a `LayerwiseLinearProblem` (models/linear_nets.py; docs/theory.md#81-layer-wise-learning-rate-balancing)
GD moves every trained layer by its own rate, W_ℓ ← W_ℓ − η_ℓ ∇_{W_ℓ}L, on the train loss or on
the signal-only surrogate (docs/theory.md#82-gradients-and-the-signal-only-surrogate). A budget
line fixes Σ_ℓ η_ℓ = lr_max and moves η₁; the sweeps run a few GD steps at every point of a line
for many sampled problems, the numbers the closed forms of `sde.closed_form.linear_net_surrogate`
are checked against.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from implicit_bias_lab.models.linear_nets import LayerwiseLinearProblem, num_trainable_layers, sample_problem

# --------------------------------------------------------------------------- GD steps


def gd_step(problem: LayerwiseLinearProblem, weights, lrs: Array, surrogate: bool = False) -> tuple[Array, ...]:
    """W_ℓ ← W_ℓ − η_ℓ ∇_{W_ℓ}L, with `lrs` = (η₁, …, η_{L'})."""
    grads = problem.gradients(weights, surrogate)
    return tuple(w - lrs[i] * g for i, (w, g) in enumerate(zip(weights, grads)))


def gd_test_losses(
    problem: LayerwiseLinearProblem, weights, lrs: Array, num_steps: int, surrogate: bool = False
) -> Array:
    """Test losses after 0, 1, …, num_steps GD steps (length num_steps + 1)."""

    def body(w, _):
        w = gd_step(problem, w, lrs, surrogate)
        return w, problem.test_loss(w)

    _, losses = jax.lax.scan(body, tuple(weights), None, length=num_steps)
    return jnp.concatenate([problem.test_loss(tuple(weights))[None], losses])


# --------------------------------------------------------------------------- budget lines


def official_budget_line(lr_max: float) -> np.ndarray:
    """η₁ = iΔ, i = 1 … N−1, Δ = max(1, ⌊lr_max/20⌋), N = ⌊lr_max/Δ⌋ (the official sweep)."""
    delta = max(1, math.floor(lr_max / 20))
    n = math.floor(lr_max / delta)
    return delta * np.arange(1, n, dtype=np.float64)


def uniform_budget_line(lr_max: float, points: int, depth: int = 3) -> np.ndarray:
    """`points` interior values η₁ = lr_max·i/(points+1), plus the equal-rates point lr_max/L'."""
    eta1 = lr_max * np.arange(1, points + 1, dtype=np.float64) / (points + 1)
    equal = lr_max / num_trainable_layers(depth)
    return np.unique(np.concatenate([eta1, [equal]]))


def layer_rates(eta1: np.ndarray, lr_max: float, depth: int) -> np.ndarray:
    """(η₁, η₂, …): the first layer gets η₁, the others split lr_max − η₁ equally (official)."""
    eta1 = np.asarray(eta1, dtype=np.float64)
    rest = num_trainable_layers(depth) - 1
    others = np.repeat(((lr_max - eta1) / rest)[:, None], rest, axis=1)
    return np.concatenate([eta1[:, None], others], axis=1)


# --------------------------------------------------------------------------- sweeps


@partial(jax.jit, static_argnames=("depth", "width", "init", "unit_norm", "num_steps", "surrogate"))
def sweep_test_losses(
    keys: Array,
    lrs: Array,
    *,
    depth: int,
    width: int,
    init: str = "orthogonal",
    unit_norm: bool = False,
    num_steps: int = 2,
    surrogate: bool = False,
) -> Array:
    """Test losses (seeds, points, num_steps+1): one sampled problem per key, every row of `lrs`.

    All rows of one key share the problem and the init (common random numbers along a budget
    line), so differences along a line have much less Monte-Carlo noise than the losses. Seeds
    run one after another (`lax.map`): a vmap over seeds of the vmapped GD was seen to wedge
    XLA's CPU thread pool.
    """

    def one_seed(key):
        problem, weights = sample_problem(key, depth, width, init, unit_norm)
        return jax.vmap(lambda lr: gd_test_losses(problem, weights, lr, num_steps, surrogate))(lrs)

    return jax.lax.map(one_seed, keys)


def seeds_test_losses(seed: int, num_seeds: int, lrs, **kwargs) -> np.ndarray:
    """`sweep_test_losses` for keys PRNGKey(seed) … PRNGKey(seed+num_seeds−1): an array of shape
    (seeds, rows of lrs, num_steps+1)."""
    lrs = jnp.asarray(lrs, jnp.float64)
    keys = jnp.stack([jax.random.PRNGKey(seed + i) for i in range(num_seeds)])
    return np.asarray(sweep_test_losses(keys, lrs, **kwargs))


__all__ = [
    "gd_step",
    "gd_test_losses",
    "layer_rates",
    "official_budget_line",
    "seeds_test_losses",
    "sweep_test_losses",
    "uniform_budget_line",
]
