"""The weighted-ℓ1 interior-point solver against HiGHS (experiments/reference_solvers.py)."""

import numpy as np
import pytest

from implicit_bias_lab.experiments.reference_solvers import (
    _weighted_l1_ipm,
    column_second_moments,
    local_weighted_lhalf_interpolant,
    min_l2_interpolant,
    weighted_l1_interpolant,
)


def _instance(seed: int, d: int, n: int, design: str, sparsity: int | None):
    """X (±1 or Gaussian), y = X w* with a `sparsity`-sparse w* (or a Gaussian y when None), and
    random positive weights (so the optimum is unique with probability one)."""
    rng = np.random.default_rng(seed)
    X = rng.choice([-1.0, 1.0], size=(n, d)) if design == "pm1" else rng.standard_normal((n, d))
    if sparsity is None:
        y = rng.standard_normal(n)
    else:
        w_star = np.zeros(d)
        w_star[rng.choice(d, sparsity, replace=False)] = rng.standard_normal(sparsity)
        y = X @ w_star
    weights = rng.uniform(0.2, 2.0, size=d)
    return X, y, weights


CASES = [
    (seed, d, n, design, sparsity)
    for seed, (d, n, design, sparsity) in enumerate(
        [
            (50, 10, "pm1", 3),
            (50, 10, "gauss", None),
            (50, 40, "pm1", None),
            (50, 40, "gauss", 5),
            (200, 10, "pm1", None),
            (200, 10, "gauss", 2),
            (200, 40, "pm1", 5),
            (200, 40, "gauss", None),
            (200, 40, "pm1", None),
            (200, 40, "gauss", 8),
            (50, 10, "gauss", 10),
            (200, 40, "pm1", 15),
        ]
    )
]


@pytest.mark.parametrize("seed,d,n,design,sparsity", CASES)
def test_ipm_matches_highs(seed, d, n, design, sparsity):
    X, y, weights = _instance(seed, d, n, design, sparsity)
    w_ipm = weighted_l1_interpolant(X, y, weights, method="ipm")
    w_highs = weighted_l1_interpolant(X, y, weights, method="highs")
    obj_ipm, obj_highs = weights @ np.abs(w_ipm), weights @ np.abs(w_highs)
    assert abs(obj_ipm - obj_highs) <= 1e-9 * obj_highs
    assert np.max(np.abs(w_ipm - w_highs)) <= 1e-7
    assert np.max(np.abs(X @ w_ipm - y)) <= 1e-9 * (1.0 + np.max(np.abs(y)))
    # The polish returns a vertex: exact zeros off a support of at most n columns.
    assert np.count_nonzero(w_ipm) <= n


@pytest.mark.parametrize("seed,d,n,design,sparsity", [CASES[1], CASES[6], CASES[7]])
def test_ipm_without_polish_matches_highs(seed, d, n, design, sparsity):
    """The interior-point iterate itself (polish never tried) is within the tolerances too."""
    X, y, weights = _instance(seed, d, n, design, sparsity)
    w_ipm = _weighted_l1_ipm(X, y, weights, polish_from=0.0)
    w_highs = weighted_l1_interpolant(X, y, weights, method="highs")
    assert abs(weights @ np.abs(w_ipm) - weights @ np.abs(w_highs)) <= 1e-9 * (weights @ np.abs(w_highs))
    assert np.max(np.abs(w_ipm - w_highs)) <= 1e-7


def test_not_converged_raises():
    X, y, weights = _instance(4, 200, 10, "pm1", None)
    with pytest.raises(RuntimeError, match="did not converge in 2 iterations"):
        _weighted_l1_ipm(X, y, weights, max_iter=2)


def test_default_method_is_ipm_and_weights_default_to_one():
    X, y, _ = _instance(100, 200, 40, "gauss", None)
    w_default = weighted_l1_interpolant(X, y)
    np.testing.assert_array_equal(w_default, weighted_l1_interpolant(X, y, np.ones(200), method="ipm"))
    w_highs = weighted_l1_interpolant(X, y, method="highs")
    assert np.max(np.abs(w_default - w_highs)) <= 1e-7


def test_zero_weights_and_zero_columns():
    """A zero column gets weight m_i = 0 (column_second_moments): its coordinate is free, and 0."""
    X, y, _ = _instance(7, 100, 20, "gauss", 3)
    X[:, 11] = 0.0
    weights = column_second_moments(X)
    w_ipm = weighted_l1_interpolant(X, y, weights)
    w_highs = weighted_l1_interpolant(X, y, weights, method="highs")
    assert w_ipm[11] == 0.0
    assert abs(weights @ np.abs(w_ipm) - weights @ np.abs(w_highs)) <= 1e-9 * (weights @ np.abs(w_highs))
    assert np.max(np.abs(w_ipm - w_highs)) <= 1e-7


def test_dependent_rows_and_infeasible_system():
    X, y, weights = _instance(8, 60, 10, "gauss", 3)
    X2 = np.vstack([X, 2.0 * X[:3]])
    y2 = np.concatenate([y, 2.0 * y[:3]])
    w = weighted_l1_interpolant(X2, y2, weights)
    assert np.max(np.abs(w - weighted_l1_interpolant(X, y, weights))) <= 1e-9
    y2[-1] += 1.0
    with pytest.raises(RuntimeError, match="infeasible"):
        weighted_l1_interpolant(X2, y2, weights)


def test_sparse_recovery_above_threshold():
    """n = 200 ±1 measurements of a 10-sparse w* in d = 1000: exact recovery (well above n ≈ 2k log(d/k))."""
    rng = np.random.default_rng(3)
    d, n, k = 1000, 200, 10
    X = rng.choice([-1.0, 1.0], size=(n, d))
    w_star = np.zeros(d)
    w_star[rng.choice(d, k, replace=False)] = rng.choice([-1.0, 1.0], k) * rng.uniform(0.5, 2.0, k)
    w = weighted_l1_interpolant(X, X @ w_star)
    assert np.max(np.abs(w - w_star)) <= 1e-10
    np.testing.assert_array_equal(w != 0, w_star != 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_local_lhalf_ipm_matches_highs(seed):
    rng = np.random.default_rng(50 + seed)
    d, n = 100, 20
    X = rng.standard_normal((n, d)) if seed % 2 else rng.choice([-1.0, 1.0], size=(n, d))
    w_star = np.zeros(d)
    w_star[rng.choice(d, 4, replace=False)] = rng.standard_normal(4)
    y = X @ w_star
    start = min_l2_interpolant(X, y) + 0.1 * rng.standard_normal(d)
    w_ipm = local_weighted_lhalf_interpolant(X, y, start, iterations=6)
    w_highs = local_weighted_lhalf_interpolant(X, y, start, iterations=6, method="highs")
    assert np.max(np.abs(w_ipm - w_highs)) <= 1e-7


def test_bad_inputs_raise():
    X, y, weights = _instance(9, 30, 5, "gauss", None)
    with pytest.raises(ValueError, match="method"):
        weighted_l1_interpolant(X, y, weights, method="simplex")
    with pytest.raises(ValueError, match="^y "):
        weighted_l1_interpolant(X, y[:-1], weights)
    with pytest.raises(ValueError, match="^weights "):
        weighted_l1_interpolant(X, y, weights[:-1])
    with pytest.raises(ValueError, match="^X "):
        weighted_l1_interpolant(X[0], y, weights)
    with pytest.raises(ValueError, match="negative"):
        weighted_l1_interpolant(X, y, -weights)
    for bad in ("X", "y", "weights"):
        args = {"X": X.copy(), "y": y.copy(), "weights": weights.copy()}
        args[bad].flat[0] = np.nan
        with pytest.raises(ValueError, match=f"^{bad} has non-finite"):
            weighted_l1_interpolant(**args)
    with pytest.raises(ValueError, match="method"):
        local_weighted_lhalf_interpolant(X, y, np.zeros(30), method="lp")
    assert not weighted_l1_interpolant(X, np.zeros(5), weights).any()
