"""Sharpness measures of a Hessian H (Li–Wen–Lyu 2025, §5).

tr H (SGD's label-noise regularizer), tr Diag(H)^{1/2} (Adam's), tr Diag(H)^{1−λ} (AdamE-λ's),
λ_max. Tiny negative diagonal entries (iterates slightly off Γ) are clamped at 0 before the power.
The diagonal net's closed forms live in `models.diagonal_net`.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import Array


def trace_hessian(H: Array) -> Array:
    """tr H."""
    return jnp.trace(H)


def diag_power_trace(diagonal: Array, power: float) -> Array:
    """Σ_j max(H_jj, 0)^power, from the diagonal of H."""
    return jnp.sum(jnp.maximum(diagonal, 0.0) ** power, axis=-1)


def trace_diag_hessian_power(H: Array, power: float) -> Array:
    """tr Diag(H)^power (power = 1 − λ for AdamE-λ)."""
    return diag_power_trace(jnp.diagonal(H), power)


def trace_sqrt_diag_hessian(H: Array) -> Array:
    """tr Diag(H)^{1/2}."""
    return diag_power_trace(jnp.diagonal(H), 0.5)


def lambda_max(H: Array) -> Array:
    """Largest eigenvalue of the symmetric matrix H."""
    return jnp.linalg.eigvalsh(H)[-1]
