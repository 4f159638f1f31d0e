"""Diagonal linear network w = u⊙u − v⊙v (and the u⊙u variant), θ = (u, v) ∈ R^{2d}.

Closed forms on Γ (docs/theory.md#6-diagonal-net; Li–Wen–Lyu 2025 §5.2), with M = XᵀX/n and
m_i = M_ii (= 1 for ±1 data):
  H = 4 [[D_u M D_u, −D_u M D_v], [−D_v M D_u, D_v M D_v]],
  tr H = 4 Σ m_i (u_i² + v_i²),  Diag H = 4 (m⊙u², m⊙v²),
  tr Diag(H)^{1/2} = 2 Σ √m_i (|u_i| + |v_i|),  ∇ tr ∇²L = 8 (m⊙u, m⊙v).
For the u⊙u variant θ = u, H = 4 D_u M D_u.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jax import Array

from implicit_bias_lab.models.base import AbstractModel, check_size


def second_moments(X: Array) -> Array:
    """m_i = (1/n)Σ_k X_ki² (= 1 for ±1 data): diag H on Γ is 4(m⊙u², m⊙v²)."""
    return jnp.mean(X * X, axis=0)


class DiagonalNet(AbstractModel):
    """f(θ, x) = ⟨u⊙u − v⊙v, x⟩ (or ⟨u⊙u, x⟩ with `positive=True`)."""

    dim: int = eqx.field(static=True)
    positive: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        check_size("DiagonalNet.dim", self.dim)

    @property
    def num_params(self) -> int:
        return self.dim if self.positive else 2 * self.dim

    @property
    def input_dim(self) -> int:
        return self.dim

    linear_in_input: ClassVar[bool] = True

    def input_weights(self, theta: Array) -> Array:
        """w = u⊙u − v⊙v: f(θ, x) = ⟨w, x⟩."""
        return self.effective_weights(theta)

    def split(self, theta: Array) -> tuple[Array, Array]:
        """(u, v); v = 0 for the u⊙u variant."""
        if self.positive:
            return theta, jnp.zeros_like(theta)
        return theta[..., : self.dim], theta[..., self.dim :]

    def effective_weights(self, theta: Array) -> Array:
        """w = u⊙u − v⊙v."""
        u, v = self.split(theta)
        return u * u - v * v

    def predict(self, theta, x):
        return jnp.dot(self.effective_weights(theta), x)

    def initial_params(self, alpha: float, dtype=jnp.float64) -> Array:
        """u = v = α·1 (w = 0); u = α·1 for the u⊙u variant."""
        return jnp.full((self.num_params,), alpha, dtype)

    # ---- closed forms (exact Gauss–Newton; equal to the Hessian on Γ) ----
    def gauss_newton_diagonal(self, theta, X):
        m = second_moments(X)
        u, v = self.split(theta)
        if self.positive:
            return 4 * m * u * u
        return 4 * jnp.concatenate([m * u * u, m * v * v], axis=-1)

    def hessian_on_manifold(self, theta: Array, X: Array) -> Array:
        M = X.T @ X / X.shape[0]
        u, v = self.split(theta)
        if self.positive:
            return 4 * u[:, None] * M * u[None, :]
        uu = u[:, None] * M * u[None, :]
        uv = u[:, None] * M * v[None, :]
        vv = v[:, None] * M * v[None, :]
        return 4 * jnp.block([[uu, -uv], [-uv.T, vv]])

    def trace_hessian_on_manifold(self, theta: Array, X: Array) -> Array:
        return jnp.sum(self.gauss_newton_diagonal(theta, X), axis=-1)

    def trace_sqrt_diag_hessian_on_manifold(self, theta: Array, X: Array) -> Array:
        m = second_moments(X)
        u, v = self.split(theta)
        return 2 * jnp.sum(jnp.sqrt(m) * (jnp.abs(u) + jnp.abs(v)), axis=-1)

    def grad_trace_hessian_on_manifold(self, theta: Array, X: Array) -> Array:
        """∇ tr ∇²L on Γ: 8 (m⊙u, m⊙v) (u⊙u variant: up to a vector in range Jᵀ)."""
        m = second_moments(X)
        u, v = self.split(theta)
        if self.positive:
            return 8 * m * u
        return 8 * jnp.concatenate([m * u, m * v], axis=-1)
