"""A quadratic with additive gradient noise, in its eigenbasis: the problem SGD-under-schedules runs on.

Setting (docs/theory.md#87-sgd-on-quadratics-under-schedules): L(θ) = L* + ½θᵀHθ with
H = diag(λ_i) (any quadratic, in its eigenbasis) and stochastic gradients Hθ + ξ with
Cov ξ = diag(σ_i²). Noise "∝ H" means σ_i² = c λ_i; "isotropic" means σ_i² = c. Also here: spectra
that approximate a Gamma noise measure, and a non-diagonal H with a general noise covariance Σ.

How SGD moves on these problems (exact moments under a schedule, the OU limit, Monte Carlo, the
stationary state) lives in `sde.closed_form`.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import scipy.stats
from jax import Array

NOISE_SHAPES = ("proportional", "isotropic")


class NoisyQuadratic(eqx.Module):
    """L = L* + ½ Σ λ_i θ_i², gradient noise variances σ_i², initial second moments m_i(0)."""

    eigenvalues: Array
    noise_variances: Array
    init_second_moment: Array
    loss_floor: float = 0.0

    def __check_init__(self):
        d = np.shape(self.eigenvalues)
        if len(d) != 1:
            raise ValueError(f"eigenvalues must be a vector, got shape {d}")
        for name in ("noise_variances", "init_second_moment"):
            if np.shape(getattr(self, name)) != d:
                raise ValueError(f"{name} must have shape {d} like eigenvalues")
        if not np.all(np.asarray(self.eigenvalues) > 0):
            raise ValueError("eigenvalues must be > 0")
        if not np.all(np.asarray(self.noise_variances) >= 0):
            raise ValueError("noise_variances must be >= 0")

    @property
    def dim(self) -> int:
        return int(np.shape(self.eigenvalues)[0])

    def loss_from_moments(self, m: Array) -> Array:
        """E L = L* + ½ Σ_i λ_i m_i for second moments m_i = E θ_i² (last axis)."""
        return self.loss_floor + 0.5 * jnp.sum(self.eigenvalues * m, axis=-1)

    def noise_kernel(self, x: Array) -> Array:
        """G̃(x) = Σ_i σ_i²/4 (1 − e^{−2λ_i x})."""
        x = jnp.asarray(x, jnp.float64)[..., None]
        return jnp.sum(self.noise_variances / 4 * (1 - jnp.exp(-2 * self.eigenvalues * x)), axis=-1)


def power_law_quadratic(
    dim: int,
    exponent: float = 1.5,
    noise: str = "proportional",
    noise_scale: float = 1.0,
    init_scale: float = 1.0,
    loss_floor: float = 0.0,
) -> NoisyQuadratic:
    """λ_i = i^{−exponent}; σ_i² = noise_scale·λ_i ("proportional", Σ ∝ H) or noise_scale
    ("isotropic"); m_i(0) = init_scale."""
    if noise not in NOISE_SHAPES:
        raise ValueError(f"noise must be one of {NOISE_SHAPES}, got {noise!r}")
    lam = np.arange(1, dim + 1, dtype=np.float64) ** (-exponent)
    sig2 = noise_scale * (lam if noise == "proportional" else np.ones_like(lam))
    return NoisyQuadratic(jnp.asarray(lam), jnp.asarray(sig2), jnp.full(dim, float(init_scale)), float(loss_floor))


def gamma_quadratic(dim: int, shape: float, scale: float, mass: float, init_scale: float = 0.0) -> NoisyQuadratic:
    """A spectrum whose noise measure Σσ_i²δ_{λ_i} approximates mass·Gamma(shape, scale).

    Generalised Gauss–Laguerre quadrature: λ_i = scale·x_i, σ_i² = mass·w_i/Γ(shape), so
    Σσ_i² f(λ_i) ≈ mass·E f(λ) for λ ~ Gamma(shape, scale) (exact for polynomials of degree < 2·dim).
    """
    import scipy.special

    x, w = scipy.special.roots_genlaguerre(dim, shape - 1)
    lam = scale * x
    sig2 = mass * w / math.gamma(shape)
    return NoisyQuadratic(jnp.asarray(lam), jnp.asarray(sig2), jnp.full(dim, float(init_scale)))


def gamma_noise_kernel(x: np.ndarray | float, shape: float, scale: float, mass: float) -> np.ndarray:
    """G̃(x) for a noise measure mass·Gamma(shape, scale): (mass/4)(1 − (1 + 2·scale·x)^{−shape})."""
    return mass / 4 * (1 - (1 + 2 * scale * np.asarray(x, float)) ** (-shape))


def random_quadratic(
    key_seed: int, dim: int, condition: float = 20.0, noise: str = "isotropic"
) -> tuple[np.ndarray, np.ndarray]:
    """A non-diagonal H (random rotation, eigenvalues log-spaced in [1/condition, 1]) and a noise
    covariance Σ: σ²I ("isotropic") or a random SPD matrix not commuting with H ("general")."""
    rng = np.random.default_rng(key_seed)
    Q = scipy.stats.ortho_group.rvs(dim, random_state=rng)
    H = Q @ np.diag(np.geomspace(1 / condition, 1, dim)) @ Q.T
    if noise == "isotropic":
        S = np.eye(dim)
    else:
        B = rng.standard_normal((dim, dim)) / math.sqrt(dim)
        S = B @ B.T + 0.1 * np.eye(dim)
    return H, S


__all__ = [
    "NOISE_SHAPES",
    "NoisyQuadratic",
    "gamma_noise_kernel",
    "gamma_quadratic",
    "power_law_quadratic",
    "random_quadratic",
]
