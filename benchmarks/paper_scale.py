"""The `paper` sparse-recovery preset (d = 10⁴, κ = 50, n = 200 … 1000, 8 seeds) by its limits on this
CPU, stage by stage, as the sweep runs it from d = 2000 on (`PER_INSTANCE_D`): one instance at a time
on its true rows.

Stages (the sweep's own functions, so what is timed is what runs):
* `landing` — plain GD from u = v = α·1 for `gd_steps` steps, float64 (`sparse_recovery.gd_landing`);
* `sgd_flow` — the SGD slow flow, compact RK4 route (`slow_flow_final`, SGD);
* `adam_flow` — Adam's slow flow with v as a state, compact route (the `slow` method);
* `adam_qs` — the quasi-static (c₂ → ∞) Adam flow, compact route (the `slow_qs` method; optional);
* `l1` — the weighted-ℓ1 program by the dense interior-point method (`reference_solvers`).

Each stage is timed at the grid's smallest and largest n on one instance: a first call (with
compilation: the compact routes compile once per (n, d) and reuse it for the other seeds of that n)
and a second, cached call. The cached cost is fitted as a·n^p through the two points and summed over
the grid, × seeds, plus one compilation per n; the total is printed beside the sweep's own estimate
(`describe_cost`), so the cost model's calibration is checked side by side. The whole preset's wall
time, measured, is in docs/results.md.

    python -m benchmarks.paper_scale [--quick] [--seeds S] [--qs]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time

import jax
import numpy as np

from implicit_bias_lab.experiments import sparse_recovery as sr
from implicit_bias_lab.experiments.reference_solvers import weighted_l1_interpolant
from implicit_bias_lab.precision import enable_x64


def _timed(fn):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - t0, out


def stage_calls(config: sr.Config, n: int, qs: bool) -> dict:
    """stage → a zero-argument callable running that stage on instance (n, seed 0) as the sweep does."""
    inst = sr.Instance(n, 0)
    data = sr.instance_data(config, inst)
    landing = {}

    def land():
        landing["theta"] = sr.gd_landing(config, [inst])
        return landing["theta"]

    def flow(optimizer, quasi_static=False):
        return lambda: sr.slow_flow_final(config, optimizer, [data.X], [data.y], [n], landing["theta"], quasi_static,
                                          route="compact")[0]

    calls = {"landing": land, "sgd_flow": flow("sgd"), "adam_flow": flow("adam")}
    if qs:
        calls["adam_qs"] = flow("adam", quasi_static=True)
    X, y = np.asarray(data.X), np.asarray(data.y)
    calls["l1"] = lambda: weighted_l1_interpolant(X, y, np.mean(X * X, axis=0))
    return calls


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 2000, κ = 10, n/5 (a smoke test, ≈ 1 min)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per n of the extrapolated preset (default: the preset's)")
    parser.add_argument("--qs", action="store_true", help="also time the quasi-static Adam flow (the slow_qs method)")
    args = parser.parse_args(argv)
    enable_x64()
    paper = sr.Config(**sr.PRESETS["paper"])
    if args.quick:
        paper = dataclasses.replace(paper, d=2000, kappa=10, n=tuple(k // 5 for k in paper.n))
    if args.seeds:
        paper = dataclasses.replace(paper, seeds=args.seeds)
    grid = np.asarray(paper.n, np.float64)
    ends = (min(paper.n), max(paper.n))
    print(f"paper preset by its limits: d = {paper.d}, κ = {paper.kappa}, n = {list(paper.n)}, {paper.seeds} seeds; "
          f"load {os.getloadavg()[0]:.1f}")
    first, cached = {}, {}
    for n in ends:
        for stage, call in stage_calls(paper, n, args.qs).items():
            t_first, _ = _timed(call)
            t_cached, _ = _timed(call)
            first.setdefault(stage, []).append(t_first)
            cached.setdefault(stage, []).append(t_cached)
            print(f"  n = {n:5d}  {stage:10s} first {t_first:8.1f} s   cached {t_cached:8.1f} s", flush=True)
    total, rows = 0.0, []
    for stage in first:
        (c_lo, c_hi), (f_lo, f_hi) = cached[stage], first[stage]
        p = math.log(max(c_hi, 1e-9) / max(c_lo, 1e-9)) / math.log(ends[1] / ends[0])
        per_n = c_lo * (grid / ends[0]) ** p  # cached seconds per instance at each n of the grid
        compile_s = max(0.0, 0.5 * ((f_lo - c_lo) + (f_hi - c_hi)))
        seconds = float(paper.seeds * per_n.sum() + compile_s * len(grid))
        total += seconds
        rows.append((stage, p, compile_s, seconds))
    print("extrapolated to the whole preset (cached cost ∝ n^p through the two ends, × seeds, + one compilation per n):")
    for stage, p, compile_s, seconds in rows:
        print(f"  {stage:10s} p = {p:4.2f}  compile ≈ {compile_s:5.1f} s/n  total {seconds / 60:7.1f} min")
    methods = ("slow", "slow_qs", "l1") if args.qs else ("slow", "l1")
    _, model = sr.describe_cost(dataclasses.replace(paper, methods=methods))
    print(f"  whole preset: {total / 60:.1f} min measured-and-extrapolated; the sweep's cost model says {model / 60:.1f} min "
          f"(ratio {model / total:.2f})")
    return {"stages": {s: sec for s, _, _, sec in rows}, "total_s": total, "cost_model_s": model}


if __name__ == "__main__":
    main()
