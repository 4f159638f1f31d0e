"""The stationary state of constant-LR SGD on a general (non-diagonal) quadratic.

docs/theory.md#87-sgd-on-quadratics-under-schedules: SGD θ ← θ − η(Hθ + Σ^{1/2}z) on
L = ½θᵀHθ has a stationary covariance C solving the discrete Lyapunov equation
C = (I − ηH)C(I − ηH)ᵀ + η²Σ, for any H and Σ (they need not commute). Problems with such H and Σ
come from `models.noisy_quadratic.random_quadratic`; the diagonal case is
`sde.closed_form.quadratic_sgd.stationary_second_moment`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
from jax import Array


def stationary_covariance(hessian: np.ndarray, noise_cov: np.ndarray, eta: float) -> np.ndarray:
    """C = (I − ηH)C(I − ηH)ᵀ + η²Σ: the stationary covariance of constant-LR SGD on a quadratic
    (scipy.linalg.solve_discrete_lyapunov). Requires the spectral radius of I − ηH below 1."""
    A = np.eye(hessian.shape[0]) - eta * np.asarray(hessian)
    radius = np.max(np.abs(np.linalg.eigvals(A)))
    if radius >= 1:
        raise ValueError(f"eta={eta} is unstable: spectral radius of I − ηH is {radius:.3g} >= 1")
    return scipy.linalg.solve_discrete_lyapunov(A, eta**2 * np.asarray(noise_cov))


def stationary_loss(hessian: np.ndarray, noise_cov: np.ndarray, eta: float) -> float:
    """E L_∞ − L* = ½ tr(H C)."""
    return 0.5 * float(np.trace(np.asarray(hessian) @ stationary_covariance(hessian, noise_cov, eta)))


@partial(jax.jit, static_argnames=("runs", "num_steps"))
def simulate_constant_lr(H: Array, noise_sqrt: Array, eta: float, key: Array, runs: int, num_steps: int) -> Array:
    """Final θ of `runs` SGD paths θ ← θ − η(Hθ + Σ^{1/2}z) from θ = 0 after num_steps steps."""
    d = H.shape[0]

    def step(theta, t):
        z = jax.random.normal(jax.random.fold_in(key, t), (runs, d), jnp.float64)
        return theta - eta * (theta @ H.T + z @ noise_sqrt.T), None

    theta, _ = jax.lax.scan(step, jnp.zeros((runs, d), jnp.float64), jnp.arange(num_steps))
    return theta


__all__ = ["simulate_constant_lr", "stationary_covariance", "stationary_loss"]
