"""Small helpers shared by the claim modules (not a claim: the leading underscore hides it)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from implicit_bias_lab import models
from implicit_bias_lab.sde import integrators


def sym_zero(expr) -> bool:
    """True when sympy simplifies `expr` (a scalar or a Matrix) to exactly 0."""
    if isinstance(expr, sp.MatrixBase):
        return all(sp.simplify(e) == 0 for e in expr)
    return sp.simplify(expr) == 0


def rel_err(a, b) -> float:
    """‖a − b‖ / ‖b‖ (Frobenius / Euclidean), float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def max_abs(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def check_size(size: str) -> bool:
    """True for "full", False for "small"; anything else is an error."""
    if size not in ("small", "full"):
        raise ValueError(f"size must be 'small' or 'full', got {size!r}")
    return size == "full"


def rk4(velocity, z0, T, num_steps):
    """Classical RK4 on dζ/dt = velocity(ζ) (ζ any pytree, step T/num_steps) to time T: `sde.integrators.rk4`
    under a fresh `jax.jit`, so it is compiled afresh on each call."""
    return jax.jit(lambda z: integrators.rk4(velocity, z, T, num_steps))(z0)


_CURVED = models.SquaredLossProblem(models.DiagonalNet(2), jnp.array([[1.0, 0.5]]), jnp.array([0.6]))


def curved_loss(theta):
    """Diagonal net d = 2, n = 1, x = (1, ½), y = 0.6: Γ = {u₁² − v₁² + ½(u₂² − v₂²) = 0.6} is a curved
    3-dimensional quadric in R⁴ (rank H = 1 on Γ)."""
    return _CURVED.loss(theta)


@functools.lru_cache(maxsize=None)
def label_noise_net():
    """(problem, ζ0): the diagonal net d = 3, n = 2 (Gaussian X, labels from a fixed θ) of the
    discrete-vs-slow-flow checks (docs/theory.md#101-label-noise-against-the-sgd-slow-flow setting) and a point ζ0 of its Γ."""
    net = models.DiagonalNet(3)
    X = jax.random.normal(jax.random.PRNGKey(5), (2, 3), jnp.float64)
    theta_ref = jnp.array([0.9, -0.5, 0.7, 0.4, 0.8, -0.3])
    problem = models.SquaredLossProblem(net, X, X @ net.effective_weights(theta_ref))
    from implicit_bias_lab.sde.manifold import retract_to_manifold

    z0 = retract_to_manifold(problem, jnp.array([1.0, -0.6, 0.5, 0.5, 0.7, -0.4]))
    return problem, z0
