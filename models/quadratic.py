"""Linear regression with fewer samples than parameters: a quadratic with a flat Γ.

L(θ) = (1/2n)‖Xθ − y‖², H = XᵀX/n (constant); Γ = {θ : Xθ = y} is an affine subspace of
dimension D − rank X, so tr H is constant on Γ and no implicit bias acts along it.
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from implicit_bias_lab.models.base import AbstractModel, check_size, SquaredLossProblem


class LinearModel(AbstractModel):
    """f(θ, x) = ⟨θ, x⟩."""

    dim: int = eqx.field(static=True)

    def __check_init__(self):
        check_size("LinearModel.dim", self.dim)

    @property
    def num_params(self) -> int:
        return self.dim

    @property
    def input_dim(self) -> int:
        return self.dim

    def predict(self, theta, x):
        return jnp.dot(theta, x)

    linear_in_input: ClassVar[bool] = True

    def input_weights(self, theta):
        return theta

    def gauss_newton_diagonal(self, theta, X):
        return jnp.mean(X * X, axis=0)


def flat_quadratic(key: jax.Array, dim: int, rank: int, dtype=jnp.float64) -> SquaredLossProblem:
    """A quadratic on R^dim whose minimizers form an affine subspace of dimension dim − rank.

    X has `rank` Gaussian rows and y = X θ* for a Gaussian θ*.
    """
    if not 1 <= rank <= dim:
        raise ValueError(f"rank must lie in [1, dim={dim}], got {rank}")
    kx, kt = jax.random.split(key)
    X = jax.random.normal(kx, (rank, dim), dtype)
    y = X @ jax.random.normal(kt, (dim,), dtype)
    return SquaredLossProblem(LinearModel(dim), X, y)
