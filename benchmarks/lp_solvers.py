"""Weighted-ℓ1 interpolation (min Σ ω_i|w_i| s.t. Xw = y): the dense interior-point method against
HiGHS, side by side on the same instances (experiments/reference_solvers.py).

Instances: a ±1 design X (n × d), y = X w* with a κ = n/10-sparse w* (Gaussian entries), weights
m_i = (XᵀX/n)_ii (= 1) — the lab's sparse-recovery LP. HiGHS is run on the same split LP as
`weighted_l1_interpolant(method="highs")` (scipy.linprog, with a time limit so a slow point is
skipped rather than waited for). The IPM is timed best of `--repeats`, HiGHS once; its iteration
count is the number of normal-equation factorizations. At size `full` the IPM alone is also timed
at (10⁴, 1000), on that instance and on a Gaussian X with a Gaussian (non-sparse) y, whose
solution has n nonzeros (the slower case for the IPM).

    python -m benchmarks.lp_solvers [--size small|full] [--highs-limit SECONDS]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from unittest import mock

import numpy as np
from scipy.optimize import linprog

from implicit_bias_lab.experiments import reference_solvers as rs

SIZES = {
    "small": [(2000, 100)],
    "full": [(2000, 100), (5000, 250), (10_000, 500)],
}
IPM_ONLY = {"small": [], "full": [(10_000, 1000)]}


def instance(d: int, n: int, kind: str = "sparse", seed: int = 0):
    rng = np.random.default_rng(seed)
    if kind == "sparse":
        X = rng.choice([-1.0, 1.0], size=(n, d))
        w_star = np.zeros(d)
        k = max(1, n // 10)
        w_star[rng.choice(d, k, replace=False)] = rng.standard_normal(k)
        y = X @ w_star
    else:
        X = rng.standard_normal((n, d))
        y = rng.standard_normal(n)
    return X, y, rs.column_second_moments(X)


def time_ipm(X, y, weights, repeats: int):
    best, iterations = float("inf"), 0
    for _ in range(repeats):
        with mock.patch.object(rs, "_factor", wraps=rs._factor) as factor:
            t0 = time.perf_counter()
            w = rs.weighted_l1_interpolant(X, y, weights, method="ipm")
            best = min(best, time.perf_counter() - t0)
        iterations = factor.call_count
    return best, iterations, w


def time_highs(X, y, weights, limit: float):
    """Seconds and solution of HiGHS on the split LP, or (None, None) past `limit` seconds."""
    d = X.shape[1]
    t0 = time.perf_counter()
    res = linprog(np.concatenate([weights, weights]), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None),
                  method="highs", options={"time_limit": limit})
    seconds = time.perf_counter() - t0
    if res.status == 1:  # time limit reached
        return None, None
    if res.status != 0:
        raise RuntimeError(f"HiGHS failed: {res.message}")
    return seconds, res.x[:d] - res.x[d:]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=tuple(SIZES), default="full")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--highs-limit", type=float, default=300.0, help="skip HiGHS points slower than this")
    args = parser.parse_args([] if argv is None else argv)
    print(f"load average {os.getloadavg()[0]:.1f}; κ = n/10-sparse truth, ±1 design, weights m_i", flush=True)
    print(f"{'d':>6} {'n':>5} | {'IPM s':>7} {'iters':>5} | {'HiGHS s':>8} | {'HiGHS/IPM':>9} | "
          f"{'max |Δw|':>9} | {'rel Δobj':>9} | {'nnz':>5}", flush=True)
    rows = {}
    for d, n in SIZES[args.size]:
        X, y, weights = instance(d, n)
        t_ipm, iterations, w_ipm = time_ipm(X, y, weights, args.repeats)
        t_highs, w_highs = time_highs(X, y, weights, args.highs_limit)
        nnz = int(np.count_nonzero(w_ipm))
        if t_highs is None:
            print(f"{d:>6} {n:>5} | {t_ipm:7.2f} {iterations:>5} | {'> ' + format(args.highs_limit, '.0f'):>8} | "
                  f"{'skipped':>9} | {'-':>9} | {'-':>9} | {nnz:>5}", flush=True)
            rows[(d, n)] = {"ipm_s": t_ipm, "iterations": iterations, "highs_s": None}
            continue
        dw = float(np.max(np.abs(w_ipm - w_highs)))
        obj_ipm, obj_highs = weights @ np.abs(w_ipm), weights @ np.abs(w_highs)
        dobj = abs(obj_ipm - obj_highs) / obj_highs
        print(f"{d:>6} {n:>5} | {t_ipm:7.2f} {iterations:>5} | {t_highs:8.2f} | {t_highs / t_ipm:9.1f} | "
              f"{dw:9.1e} | {dobj:9.1e} | {nnz:>5}", flush=True)
        rows[(d, n)] = {"ipm_s": t_ipm, "iterations": iterations, "highs_s": t_highs, "max_dw": dw, "rel_dobj": dobj}
    for d, n in IPM_ONLY[args.size]:
        for kind, label in (("sparse", "±1, κ = n/10"), ("dense", "Gaussian X and y")):
            X, y, weights = instance(d, n, kind)
            t_ipm, iterations, w_ipm = time_ipm(X, y, weights, args.repeats)
            residual = float(np.max(np.abs(X @ w_ipm - y)))
            print(f"{d:>6} {n:>5} | {t_ipm:7.2f} {iterations:>5} | IPM alone ({label}): "
                  f"max |Xw − y| = {residual:.1e}, nnz = {np.count_nonzero(w_ipm)}", flush=True)
            rows[(d, n, kind)] = {"ipm_s": t_ipm, "iterations": iterations}
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
