"""Deep linear network / matrix sensing: P(θ) = W_L ⋯ W_1, f(θ, A) = ⟨A, P(θ)⟩.

θ is the concatenation of the flattened layers W_ℓ ∈ R^{d_ℓ × d_{ℓ−1}}; a sample x is a flattened
measurement matrix A ∈ R^{d_L × d_0}. With A_k Gaussian and a low-rank truth M*, y_k = ⟨A_k, M*⟩
is the matrix-factorization setting of Li–Wen–Lyu 2025 §6 (after Gatmiry et al. 2023).
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from implicit_bias_lab.models.base import AbstractModel, check_size


class DeepLinearNet(AbstractModel):
    """Layer widths `dims = (d_0, d_1, …, d_L)`; L = len(dims) − 1 ≥ 1 layers."""

    dims: tuple[int, ...] = eqx.field(static=True)

    def __check_init__(self):
        if len(self.dims) < 2:
            raise ValueError(f"DeepLinearNet.dims must list >= 2 positive widths, got {self.dims}")
        for d in self.dims:
            check_size("DeepLinearNet.dims", d)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [(self.dims[i + 1], self.dims[i]) for i in range(len(self.dims) - 1)]

    @property
    def num_params(self) -> int:
        return sum(a * b for a, b in self.shapes)

    @property
    def input_dim(self) -> int:
        return self.dims[-1] * self.dims[0]

    def layers(self, theta: Array) -> list[Array]:
        out, start = [], 0
        for a, b in self.shapes:
            out.append(theta[start : start + a * b].reshape(a, b))
            start += a * b
        return out

    def product(self, theta: Array) -> Array:
        """P = W_L ⋯ W_1 ∈ R^{d_L × d_0}."""
        P = None
        for W in self.layers(theta):
            P = W if P is None else W @ P
        return P

    def predict(self, theta, x):
        return jnp.vdot(x, self.product(theta).reshape(-1))

    def initial_params(self, key: jax.Array, scale: float, dtype=jnp.float64) -> Array:
        """Gaussian layers with entries N(0, scale²/d_in)."""
        keys = jax.random.split(key, len(self.shapes))
        parts = [
            jax.random.normal(k, (a * b,), dtype) * scale / math.sqrt(b)
            for k, (a, b) in zip(keys, self.shapes)
        ]
        return jnp.concatenate(parts)


def matrix_sensing_data(
    key: jax.Array, n: int, rows: int, cols: int, rank: int, dtype=jnp.float64
) -> tuple[Array, Array, Array]:
    """(A, y, M*): n Gaussian measurements A_k (flattened) of a rank-`rank` matrix M*.

    M* = UVᵀ/√rank with Gaussian U ∈ R^{rows×rank}, V ∈ R^{cols×rank}; y_k = ⟨A_k, M*⟩.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 1 <= rank <= min(rows, cols):
        raise ValueError(f"rank must lie in [1, {min(rows, cols)}], got {rank}")
    ka, ku, kv = jax.random.split(key, 3)
    U = jax.random.normal(ku, (rows, rank), dtype)
    V = jax.random.normal(kv, (cols, rank), dtype)
    M = U @ V.T / math.sqrt(rank)
    A = jax.random.normal(ka, (n, rows * cols), dtype)
    return A, A @ M.reshape(-1), M
