"""Two-dimensional toys with a curved valley of minimizers (one sample, label y = 1).

* ProductToy: L = ½(θ₀θ₁ − 1)², Γ = {θ₀θ₁ = 1} (a hyperbola).
* NoisyEllipse (Li–Wen–Lyu 2025, Figure 1):
  L = ½((θ₀+θ₁)²/(2a²) + (θ₁−θ₀)²/(2b²) − 1 − δ)², Γ = an ellipse with semi-axes a and b along
  the diagonals; δ = ±0.5 each step is label noise on the single label y = 1.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from implicit_bias_lab.models.base import AbstractModel, SquaredLossProblem


class AbstractPlaneToy(AbstractModel):
    """A two-parameter model fitted to one sample x = 1 with label y = 1."""

    @property
    def num_params(self) -> int:
        return 2

    @property
    def input_dim(self) -> int:
        return 1

    def problem(self, dtype=jnp.float64) -> SquaredLossProblem:
        return SquaredLossProblem(self, jnp.ones((1, 1), dtype), jnp.ones((1,), dtype))


class ProductToy(AbstractPlaneToy):
    """f(θ, x) = θ₀θ₁x₀; with X = [[1]], y = [1] the loss is ½(θ₀θ₁ − 1)²."""

    def predict(self, theta, x):
        return theta[0] * theta[1] * x[0]


class NoisyEllipse(AbstractPlaneToy):
    """f(θ, x) = ((θ₀+θ₁)²/(2a²) + (θ₁−θ₀)²/(2b²)) x₀, target 1."""

    a: float = eqx.field(static=True, default=1.0)
    b: float = eqx.field(static=True, default=0.5)

    def __check_init__(self):
        if not (self.a > 0 and self.b > 0):
            raise ValueError(f"NoisyEllipse semi-axes a, b must be > 0, got a={self.a}, b={self.b}")

    def predict(self, theta, x):
        p, q = theta[0] + theta[1], theta[1] - theta[0]
        return (p * p / (2 * self.a**2) + q * q / (2 * self.b**2)) * x[0]

    def point_on_manifold(self, angle: float, dtype=jnp.float64):
        """The point of Γ at `angle` in the (θ₀+θ₁, θ₁−θ₀) frame."""
        p = jnp.sqrt(2.0) * self.a * jnp.cos(angle)
        q = jnp.sqrt(2.0) * self.b * jnp.sin(angle)
        return jnp.asarray([(p - q) / 2, (p + q) / 2], dtype)
