"""Slow flow against the discrete simulation to the same recovery decision at d = 1000 (issue 3
item 3 of issue 8): wall time of each method and the share of instances where both decide alike.

The sparse-recovery experiment itself (`experiments.sparse_recovery`) at d = 1000, κ = 5, ±1 design,
U(−1, 1) magnitudes, u = v = 0.5, full-batch ±3 label noise, recovered if ½‖w − w*‖² < 0.1 (the
`default` preset's settings, with d = 1000 and an n grid where recovery is mixed), methods
("discrete", "slow"), optimizer label-noise SGD (and Adam with `--adam`). Both methods start where
plain GD lands (start = "landing", computed once, float64, timed separately: it is shared). The
instances are one chunk of the experiment, so the timings are `compute_chunk` calls as a sweep
makes them: the first call includes compilation (reported apart from the steady state where the
method is cheap enough to repeat). The discrete method runs its whole step budget (`Config.steps`);
nothing is extrapolated.

`python -m benchmarks.recovery_agreement [--size small|full] [--adam]` (small: 3 seeds, ≈ 1.5 min;
full: 8 seeds, ≈ 4 min on 2 shared cores).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

from implicit_bias_lab.experiments import sparse_recovery as sr
from implicit_bias_lab.experiments.recovery_results import as_records


def make_config(seeds: int, optimizers: tuple[str, ...], n: tuple[int, ...] = (15, 20, 25, 30, 40)) -> sr.Config:
    runs = len(n) * seeds
    block = 8
    return sr.Config(**{**sr.PRESETS["default"], "d": 1000, "n": n, "seeds": seeds, "optimizers": optimizers,
                        "methods": ("discrete", "slow"), "chunk_size": -(-runs // block) * block, "block_size": block})


def flow_cost(config: sr.Config, block: int = 8, reps: int = 20) -> dict:
    """Per-evaluation cost of the SGD slow flow's pieces against one discrete step, for one block
    of `block` instances at n = n_max (float64 flow, float32 engine step, as the experiment runs
    them): where the flow's time goes, and the break-even step budget."""
    import jax.numpy as jnp

    from implicit_bias_lab.sde import slow_diagonal as sd
    from implicit_bias_lab.sde.manifold import gram_pinv_solve

    n, d = config.n_max, config.d
    key = jax.random.PRNGKey(0)
    X = jax.random.rademacher(key, (block, n, d), jnp.float64)
    theta = jax.random.uniform(jax.random.fold_in(key, 1), (block, 2 * d), jnp.float64, 0.1, 0.6)
    c = config.noise_constant(n)
    pieces = {
        "velocity (Gram + eigh + 3 matvecs)": jax.jit(jax.vmap(lambda X, th: sd.sgd_flow_velocity(X, th, c))),
        "Gram 4X·diag(k)·Xᵀ": jax.jit(jax.vmap(sd._gram)),
        "eigh-pinv of the n×n Gram": jax.jit(jax.vmap(lambda X, th: gram_pinv_solve(sd._gram(X, th), X[:, 0]))),
        "Cholesky solve instead (Gram incl.)": jax.jit(jax.vmap(
            lambda X, th: jax.scipy.linalg.cho_solve(jax.scipy.linalg.cho_factor(sd._gram(X, th)), X[:, 0]))),
    }
    X32, th32 = X.astype(jnp.float32), theta.astype(jnp.float32)

    def disc(X, th):  # one label-noise GD step as the engine takes it (f32, own X)
        u, v = th[:d], th[d:]
        eps = 3.0 * jax.random.rademacher(jax.random.PRNGKey(2), (n,), jnp.float32)
        g = X.T @ (X @ (u * u - v * v) - eps) / n
        return th - 0.02 * jnp.concatenate([2 * u * g, -2 * v * g])

    pieces["discrete step (f32, for reference)"] = jax.jit(jax.vmap(disc))
    out = {}
    for name, fn in pieces.items():
        args = (X32, th32) if name.startswith("discrete") else (X, theta)
        jax.block_until_ready(fn(*args))
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            for _ in range(reps):
                r = fn(*args)
            jax.block_until_ready(r)
            best = min(best, (time.perf_counter() - t0) / reps)
        out[name] = 1e6 * best / block
    evals = 4 * config.sgd_flow_steps  # RK4 stages × steps of `integrate_sgd_flow_stepped` in the experiment
    flow_us = evals * out["velocity (Gram + eigh + 3 matvecs)"]
    step_us = out["discrete step (f32, for reference)"]
    print(f"per instance (block of {block}, n={n}, d={d}; dispatch of one jitted call included): "
          + "; ".join(f"{k} {v:.1f} µs" for k, v in out.items()))
    print(f"   the flow's {evals} velocity evaluations ≈ {flow_us / 1e6:.2f} s per instance = {flow_us / step_us:.0f} discrete steps; "
          f"the discrete budget here is {config.steps('sgd')} steps, so the flow can win at most ≈ "
          f"{config.steps('sgd') * step_us / flow_us:.1f}× at this η = {config.lr_sgd} (the ratio grows ∝ 1/η²)")
    return {"us_per_instance": out, "breakeven_steps": flow_us / step_us}


def fewer_rk4_steps(config: sr.Config, chunk, landing, steps=(100, 50)) -> dict:
    """The SGD flow (`integrate_sgd_flow_stepped` to 4× the e-fold budget) with 400 RK4 steps (the
    experiment's count until 2026-11-23) against fewer: wall time (compiled), max |Δw| and the share
    of recovery decisions unchanged — the evidence for the experiment's `Config.sgd_flow_steps`."""
    import math

    import jax.numpy as jnp

    from implicit_bias_lab.models.sparse_regression import population_test_loss
    from implicit_bias_lab.sde.batching import blocked_vmap
    from implicit_bias_lab.sde.slow_diagonal import integrate_sgd_flow_stepped

    data = [sr.instance_data(config, inst) for inst in chunk]
    ns = [inst.n for inst in chunk]
    scale = [math.sqrt(config.n_max / k) for k in ns]
    X = jnp.stack([jnp.pad(d.X * a, ((0, config.n_max - k), (0, 0))) for d, a, k in zip(data, scale, ns)])
    y = jnp.stack([jnp.pad(d.y * a, (0, config.n_max - k)) for d, a, k in zip(data, scale, ns)])
    c = jnp.asarray([config.noise_constant(k) for k in ns])
    t1 = jnp.asarray([4 * config.sgd_slow_time(k) for k in ns])
    th0 = jnp.asarray(landing)
    out, ref = {}, None
    for num in (400, *steps):
        flow = jax.jit(blocked_vmap(lambda b, num=num: integrate_sgd_flow_stepped(b[0], b[1], b[2], b[4], noise_scale=b[3], num_steps=num),
                                    config.block_size))
        jax.block_until_ready(flow((X, y, th0, c, t1)).w)
        res, wall = _timed(lambda: flow((X, y, th0, c, t1)))
        w = np.asarray(res.w)
        rec = np.asarray([float(population_test_loss(jnp.asarray(wi), d.w_star)) < config.recovery_threshold for wi, d in zip(w, data)])
        if ref is None:
            ref = (w, rec)
        out[num] = {"wall_s": wall, "max_dw": float(np.max(np.abs(w - ref[0]))), "same_decision": float(np.mean(rec == ref[1]))}
        print(f"   SGD flow with {num:3d} RK4 steps: {wall:6.2f} s (compiled), max |w − w(400 steps)| = {out[num]['max_dw']:.2e}, "
              f"same recovery decision as 400 steps on {out[num]['same_decision']:.0%} of {len(chunk)}", flush=True)
    return out


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(jax.tree_util.tree_leaves(out))
    return out, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--adam", action="store_true", help="also Adam (discrete and its quasi-static slow flow)")
    args = parser.parse_args([] if argv is None else argv)
    optimizers = ("sgd", "adam") if args.adam else ("sgd",)
    config = make_config(3 if args.size == "small" else 8, optimizers)
    chunk = sr.instances(config)
    print(f"sparse recovery d={config.d} κ={config.kappa} n∈{config.n} × {config.seeds} seeds = {len(chunk)} instances; "
          f"budgets: SGD {config.steps('sgd')} steps (η={config.lr_sgd}), Adam {config.steps('adam')} steps; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    landing, t_landing = _timed(lambda: sr.gd_landing(config, chunk))
    print(f"GD landing (float64, {config.steps('gd')} steps, shared start of both methods): {t_landing:.1f} s", flush=True)
    records, out = [], {"instances": len(chunk), "landing_s": t_landing, "load_start": os.getloadavg()[0]}
    for opt in optimizers:
        res = {}
        for meth in ("discrete", "slow"):
            arrays, first = _timed(lambda: sr.compute_chunk(config, opt, meth, chunk, lambda: landing))
            res[f"{meth}_first_s"] = first
            if meth == "slow":  # also the steady state (compiled)
                res["slow_s"] = _timed(lambda: sr.compute_chunk(config, opt, meth, chunk, lambda: landing))[1]
            for i, inst in enumerate(chunk):
                rec = {"optimizer": opt, "method": meth, "n": inst.n, "seed": inst.seed}
                rec.update({k: np.asarray(arrays[k][i]).item() for k in sr.FIELDS})
                records.append(rec)
        ds = as_records(sr.to_dataset(config, [r for r in records if r["optimizer"] == opt]))
        share, count = sr.agreement(ds, opt)
        rates = {}
        for meth in ("discrete", "slow"):
            sel = (ds.optimizer == opt) & (ds.method == meth)
            rates[meth] = [float(ds.recovered.values[sel][ds.n.values[sel] == k].mean()) for k in config.n]
        res.update(share=share, count=count, rates=rates, steps=config.steps(opt),
                   ratio_first=res["discrete_first_s"] / res["slow_first_s"], ratio=res["discrete_first_s"] / res["slow_s"])
        out[opt] = res
        print(f"{opt}: discrete {res['discrete_first_s']:.1f} s ({res['steps']} steps, first call incl. compile), slow flow "
              f"{res['slow_first_s']:.2f} s first call / {res['slow_s']:.2f} s compiled → {res['ratio_first']:.1f}× "
              f"({res['ratio']:.1f}× against the compiled flow); same recovery decision on {share:.1%} of {count} instances",
              flush=True)
        for meth in ("discrete", "slow"):
            print(f"   success rate {meth:8s} by n: " + ", ".join(f"{k}:{r:.2f}" for k, r in zip(config.n, rates[meth])))
    out["flow_cost"] = flow_cost(config)
    out["fewer_rk4_steps"] = fewer_rk4_steps(config, chunk, landing)
    out["load_end"] = os.getloadavg()[0]
    print(f"load average at the end {out['load_end']:.1f}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
