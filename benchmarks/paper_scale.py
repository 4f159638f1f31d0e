"""The `paper` sparse-recovery preset (d = 10⁴, κ = 50, n ≤ 1000, 72 instances) on this CPU:
measured costs of each stage for one instance, and the sweep's wall time extrapolated from them.

Every instance of the sweep is padded to n_max = 1000 rows, so one instance at n = 1000 costs what
each of the 72 costs. Measured here: the GD landing (all `gd_steps`), one RK4 step of the SGD flow
and one event step of the Adam flow (the difference of two short runs, so compilation is not
counted), the weighted-ℓ1 LP, and one step of the discrete label-noise SGD on a chunk of 8 runs.
Step counts: the SGD flow takes `Config.sgd_flow_steps` RK4 steps; the Adam flow's count per coordinate is measured on
a smaller instance (d = 1000) and scaled by d; the discrete SGD budget is `Config.steps("sgd")`.

    python -m benchmarks.paper_scale [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab.experiments import sparse_recovery as sr
from implicit_bias_lab.experiments.reference_solvers import weighted_l1_interpolant
from implicit_bias_lab.sde.slow_diagonal import integrate_adam_flow_stepped, integrate_sgd_flow_stepped


def _timed(fn, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0, out


def per_step(make, k1: int, k2: int) -> float:
    """Seconds per step from two compiled runs of k1 < k2 steps (each the best of two timed calls
    after a warm-up call)."""
    times = []
    for k in (k1, k2):
        f = make(k)
        _timed(f)
        times.append(min(_timed(f)[0], _timed(f)[0]))
    return max(times[1] - times[0], 1e-9) / (k2 - k1)


def adam_steps_per_coordinate(config: sr.Config, d: int, n: int) -> float:
    """Event steps of the Adam flow per coordinate of d, measured on a smaller instance."""
    small = dataclasses.replace(config, d=d, kappa=max(1, config.kappa * d // config.d), n=(n,), seeds=1, gd_steps=4000)
    inst = sr.instances(small)
    data = sr.instance_data(small, inst[0])
    theta = jnp.asarray(sr.gd_landing(small, inst)[0])
    scale = float(jnp.max(theta * theta))
    res = jax.jit(lambda X, y, th: integrate_adam_flow_stepped(X, y, th, 100.0 * scale, dt_max=0.01 * scale))(data.X, data.y, theta)
    return int(res.num_phases) / d


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 2000 instead of the paper's 10⁴ (a smoke test)")
    args = parser.parse_args(argv)
    paper = sr.Config(**sr.PRESETS["paper"])
    if args.quick:
        paper = dataclasses.replace(paper, d=2000, kappa=10, n=tuple(k // 5 for k in paper.n))
    count = len(sr.instances(paper))
    one = dataclasses.replace(paper, n=(paper.n_max,), seeds=1)
    inst = sr.instances(one)
    data = sr.instance_data(one, inst[0])
    X, y = data.X, data.y
    c = one.noise_constant(paper.n_max)
    print(f"paper preset: d={paper.d}, κ={paper.kappa}, n_max={paper.n_max}, {count} instances; load {os.getloadavg()[0]:.1f}")

    t_land, landing = _timed(sr.gd_landing, one, inst)
    theta = jnp.asarray(landing[0])
    misfit = float(sr.relative_misfit(one, landing, [data])[0])
    print(f"GD landing: {paper.gd_steps} steps in {t_land:.1f} s (incl. compile), relative misfit {misfit:.1e}")

    t1 = 4 * paper.sgd_slow_time(paper.n_max)
    sgd_step = per_step(lambda k: (lambda: integrate_sgd_flow_stepped(X, y, theta, t1, noise_scale=c, num_steps=k)), 1, 3)
    scale = float(jnp.max(theta * theta))
    adam_jit = {}

    def adam(k):
        if k not in adam_jit:
            adam_jit[k] = jax.jit(lambda X, y, th: integrate_adam_flow_stepped(X, y, th, 100.0 * scale, dt_max=0.01 * scale, max_steps=k))
        return lambda: adam_jit[k](X, y, theta)

    adam_step = per_step(adam, 1, 3)
    per_coord = adam_steps_per_coordinate(paper, 1000 if not args.quick else 400, 100 if not args.quick else 40)
    adam_steps = per_coord * paper.d
    t_lp, _ = _timed(lambda: weighted_l1_interpolant(np.asarray(X), np.asarray(y), np.mean(np.asarray(X) ** 2, axis=0)))

    # discrete label-noise SGD on one chunk (8 runs) of the paper preset, float32
    chunk_cfg = dataclasses.replace(paper, n=(paper.n_max,), seeds=paper.chunk_size)
    chunk = sr.instances(chunk_cfg)
    chunk_data = [sr.instance_data(chunk_cfg, i) for i in chunk]

    def discrete(k):
        cfg = dataclasses.replace(chunk_cfg, gd_steps=k)  # GD's step count is settable; SGD costs the same per step plus the noise
        return lambda: sr.run_discrete(cfg, "gd", chunk, chunk_data).theta

    discrete_step = per_step(discrete, 10, 60)
    sgd_budget = paper.steps("sgd")
    chunks = math.ceil(count / paper.chunk_size)

    est = {
        "landing_s": t_land * count,
        "sgd_flow_s": sgd_step * paper.sgd_flow_steps * count,
        "adam_flow_s": adam_step * adam_steps * count,
        "l1_lp_s": t_lp * count,
    }
    est["slow_total_s"] = sum(est.values())
    est["discrete_sgd_s"] = discrete_step * sgd_budget * chunks
    print(f"SGD flow: {sgd_step:.2f} s per RK4 step × {paper.sgd_flow_steps} steps; Adam flow: {adam_step:.2f} s per event step × "
          f"{adam_steps:.0f} steps ({per_coord:.2f} per coordinate, measured at a smaller d); ℓ1 LP {t_lp:.1f} s")
    print(f"discrete label-noise SGD: {discrete_step * 1e3:.1f} ms per step for a chunk of {paper.chunk_size} runs; "
          f"budget {sgd_budget:.2e} steps (sgd_efolds/(2cη²) at n = {paper.n_max})")
    print("extrapolated to the whole preset on this CPU:")
    for k, v in est.items():
        print(f"  {k:16s} {v / 3600:12.2f} h")
    print(f"  discrete / slow  {est['discrete_sgd_s'] / est['slow_total_s']:12.3g} ×")
    return est


if __name__ == "__main__":
    main()
