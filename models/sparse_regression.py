"""Sparse-regression data (Li–Wen–Lyu 2025 §5.2; Woodworth et al. 2020).

Rows x_k ∈ R^d are ±1 (Rademacher) or standard Gaussian, so E[xxᵀ] = I; w* is κ-sparse with
equal magnitudes (w*_j = 1 on the support) or U(−1, 1) magnitudes with |w*_j| ≥ 0.01; labels are
clean, y = Xw*. For these isotropic designs the population test loss E[½(⟨x, w⟩ − ⟨x, w*⟩)²]
equals ½‖w − w*‖² exactly.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
from jax import Array

DESIGNS = ("rademacher", "gaussian")
MAGNITUDES = ("equal", "uniform")
MIN_UNIFORM_MAGNITUDE = 0.01


class SparseRegressionData(NamedTuple):
    X: Array
    y: Array
    w_star: Array


def sample_design(key: jax.Array, n: int, d: int, design: str, dtype=jnp.float64) -> Array:
    """n × d design: ±1 entries ("rademacher") or N(0, 1) entries ("gaussian")."""
    if design == "rademacher":
        return jax.random.rademacher(key, (n, d), dtype)
    if design == "gaussian":
        return jax.random.normal(key, (n, d), dtype)
    raise ValueError(f"design must be one of {DESIGNS}, got {design!r}")


def sample_sparse_truth(key: jax.Array, d: int, kappa: int, magnitudes: str, dtype=jnp.float64) -> Array:
    """κ-sparse w* on a uniformly random support."""
    if magnitudes not in MAGNITUDES:
        raise ValueError(f"magnitudes must be one of {MAGNITUDES}, got {magnitudes!r}")
    ks, km, kg = jax.random.split(key, 3)
    support = jax.random.permutation(ks, d)[:kappa]
    if magnitudes == "equal":
        values = jnp.ones((kappa,), dtype)
    else:
        size = jax.random.uniform(km, (kappa,), dtype, MIN_UNIFORM_MAGNITUDE, 1.0)
        values = size * jax.random.rademacher(kg, (kappa,), dtype)
    return jnp.zeros((d,), dtype).at[support].set(values)


def make_sparse_regression(
    key: jax.Array,
    n: int,
    d: int,
    kappa: int,
    design: Literal["rademacher", "gaussian"] = "rademacher",
    magnitudes: Literal["equal", "uniform"] = "uniform",
    dtype=jnp.float64,
) -> SparseRegressionData:
    """Draw (X, y = Xw*, w*). The truth uses `fold_in(key, 0)`, the design `fold_in(key, 1)`,
    so the same key gives the same w* whatever n is."""
    if d < 1:
        raise ValueError(f"d must be >= 1, got {d}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 1 <= kappa <= d:
        raise ValueError(f"kappa must lie in [1, d={d}], got {kappa}")
    w_star = sample_sparse_truth(jax.random.fold_in(key, 0), d, kappa, magnitudes, dtype)
    X = sample_design(jax.random.fold_in(key, 1), n, d, design, dtype)
    return SparseRegressionData(X, X @ w_star, w_star)


def population_test_loss(w: Array, w_star: Array) -> Array:
    """½‖w − w*‖²: the exact population test loss for an isotropic design."""
    diff = w - w_star
    return 0.5 * jnp.sum(diff * diff, axis=-1)


def heldout_test_loss(w: Array, X_test: Array, w_star: Array) -> Array:
    """mean_k ½(⟨x_k, w − w*⟩)² on a held-out set with clean labels."""
    r = X_test @ (w - w_star)
    return 0.5 * jnp.mean(r * r, axis=-1)
