"""Reference solvers for the implicit biases' limits on sparse regression (Xw = y).

* Weighted ℓ1 (the label-noise SGD limit, LWA 2022; weights m_i = (XᵀX/n)_ii): linear program
  min Σ m_i (a_i + b_i) s.t. X(a − b) = y, a, b ≥ 0 (HiGHS).
* Local weighted ℓ½ (the Adam limit, Li–Wen–Lyu 2025 §5): majorize–minimize on
  R(w) = Σ √(m_i |w_i|): each step solves the weighted ℓ1 program with weights
  ω_i = √m_i / (2√(|w_i^{(t)}| + τ)), the tangent of the concave √ at the current point, so R
  decreases monotonically to a stationary point near the start (ℓ½ is non-convex: every
  n-sparse basic solution is a local minimizer, so the start matters). τ → 0 along the iterations.
* Minimum-ℓ2 interpolant (the kernel regime).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog


def weighted_l1_interpolant(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """argmin Σ weights_i |w_i| s.t. Xw = y."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    n, d = X.shape
    weights = np.ones(d) if weights is None else np.asarray(weights, float)
    cost = np.concatenate([weights, weights])
    res = linprog(cost, A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"weighted-l1 linear program failed: {res.message}")
    return res.x[:d] - res.x[d:]


def column_second_moments(X: np.ndarray) -> np.ndarray:
    """m_i = (XᵀX/n)_ii (= 1 for ±1 data)."""
    X = np.asarray(X, float)
    return np.mean(X * X, axis=0)


def local_weighted_lhalf_interpolant(
    X: np.ndarray, y: np.ndarray, start: np.ndarray, iterations: int = 12, tau0: float = 1e-1
) -> np.ndarray:
    """A stationary point of Σ √(m_i|w_i|) on {Xw = y}, reached by majorize–minimize from `start`."""
    m = column_second_moments(X)
    w = np.asarray(start, float)
    tau = tau0
    for _ in range(iterations):
        weights = np.sqrt(m) / (2.0 * np.sqrt(np.abs(w) + tau))
        w = weighted_l1_interpolant(X, y, weights)
        tau = max(tau * 0.3, 1e-8)
    return w


def min_l2_interpolant(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(np.asarray(X, float), np.asarray(y, float), rcond=None)[0]


def lhalf_objective(X: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(np.sqrt(column_second_moments(X) * np.abs(w))))
