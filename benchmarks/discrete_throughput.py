"""Discrete sweep throughput: label-noise GD on a diagonal net, many runs sharing a ±1 design.

Setting (issue 2): d = 1000, n = 200, 64 runs, 10⁴ steps, float32. Per step and run the work is
two products with X (forward Xw and backward Xᵀ(r − ε)): 4nd flops, plus O(d) elementwise work,
so a block of runs sharing X is a pair of (n×d)·(d×R) matrix products. Reported: run·steps per
second, achieved GFLOP/s, and the fp32 GEMM rate of the same machine measured in the same run
(a square product large enough to reach the machine's matrix peak, and one of the engine's shape).

`--variants` (issue 8, target ≥ 60 % of the GEMM rate) times, side by side in interleaved rounds,
larger blocks of runs sharing X (64 runs in one block of 64; 256 runs in blocks of 128 and 256),
the same with ±δ label noise drawn as packed bits (`benchmarks.step_cost`; a different random
stream) and plain GD (no random numbers), so the share of the step spent on random numbers shows.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from implicit_bias_lab.models import DiagonalNet, SquaredLossProblem, make_sparse_regression
from implicit_bias_lab.sde.discrete import sgd
from implicit_bias_lab.sde.discrete.simulate import make_runner
from implicit_bias_lab.sde.noise import LabelNoise


def best_time(fn, repeats: int = 3) -> float:
    jax.block_until_ready(fn())  # compile and warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def gemm_rate(m: int, k: int, n: int, dtype=jnp.float32) -> float:
    """GFLOP/s of an (m×k)·(k×n) product."""
    a = jax.random.normal(jax.random.PRNGKey(0), (m, k), dtype)
    b = jax.random.normal(jax.random.PRNGKey(1), (k, n), dtype)
    f = jax.jit(lambda a, b: a @ b)
    reps = max(1, int(5e9 // (2 * m * k * n)))

    def many():
        out = [f(a, b) for _ in range(reps)]  # dispatched asynchronously, then waited for
        return out[-1]

    t = best_time(many)
    return 2 * m * k * n * reps / t / 1e9


def discrete_sweep(d: int = 1000, n: int = 200, runs: int = 64, steps: int = 10_000, block_size: int = 64,
                   noise=None, timed: bool = True):
    data = make_sparse_regression(jax.random.PRNGKey(0), n, d, 10, "rademacher", dtype=jnp.float32)
    problem = SquaredLossProblem(DiagonalNet(d), data.X, data.y)
    noise = LabelNoise(0.5) if noise is None else noise
    runner = make_runner(noise, sgd(0.01), num_steps=steps, log_every=steps, block_size=block_size)
    theta0 = jnp.full((runs, 2 * d), 0.3, jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(1), runs)
    if not timed:
        return lambda: runner(problem, theta0, keys).theta
    t = best_time(lambda: runner(problem, theta0, keys).theta, repeats=2)
    flops = 4 * n * d * runs * steps
    return {"d": d, "n": n, "runs": runs, "steps": steps, "block_size": block_size, "seconds": t,
            "run_steps_per_s": runs * steps / t, "gflops": flops / t / 1e9}


def variants(steps: int = 1000, rounds: int = 2, peak: float | None = None) -> dict:
    """%GEMM of larger blocks and of cheaper label noise (see the module docstring)."""
    import os

    from benchmarks.step_cost import PackedRademacherLabelNoise
    from implicit_bias_lab.sde.noise import NoNoise

    cases = {
        "64 runs, block 64": (64, 64, None),
        "256 runs, block 128": (256, 128, None),
        "256 runs, block 256": (256, 256, None),
        "64 runs, block 64, packed-bit noise": (64, 64, PackedRademacherLabelNoise(0.5)),
        "256 runs, block 256, packed-bit noise": (256, 256, PackedRademacherLabelNoise(0.5)),
        "256 runs, block 256, no noise (plain GD)": (256, 256, NoNoise()),
    }
    fns = {k: discrete_sweep(runs=r, steps=steps, block_size=b, noise=nz, timed=False) for k, (r, b, nz) in cases.items()}
    for fn in fns.values():
        jax.block_until_ready(fn())
    best = {k: float("inf") for k in fns}
    load0 = os.getloadavg()[0]
    for _ in range(rounds):
        peak_now = gemm_rate(2048, 2048, 2048)
        peak = peak_now if peak is None else max(peak, peak_now)
        for k, fn in fns.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            best[k] = min(best[k], time.perf_counter() - t0)
    out = {}
    print(f"GEMM 2048³ (best over rounds): {peak:.1f} GFLOP/s; load average {load0:.1f} → {os.getloadavg()[0]:.1f}")
    for k, t in best.items():
        runs = cases[k][0]
        g = 4 * 200 * 1000 * runs * steps / t / 1e9
        out[k] = {"seconds": t, "gflops": g, "share_of_gemm": g / peak}
        print(f"  {k:42s} {t:6.2f} s for {steps} steps  {runs * steps / t:9.3g} run·steps/s  {g:6.1f} GFLOP/s = {100 * g / peak:3.0f}% of GEMM")
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=64)
    parser.add_argument("--variants", action="store_true", help="also time larger blocks and cheaper label noise")
    args = parser.parse_args(argv)
    print(f"devices: {jax.devices()}")
    peak = gemm_rate(2048, 2048, 2048)
    shaped = gemm_rate(200, 1000, args.block_size)
    sweep = discrete_sweep(runs=args.runs, steps=args.steps, block_size=args.block_size)
    print(f"fp32 GEMM 2048³: {peak:8.1f} GFLOP/s;  engine-shaped GEMM (200×1000)·(1000×{args.block_size}): {shaped:8.1f} GFLOP/s")
    print(
        f"label-noise GD sweep d={sweep['d']} n={sweep['n']} runs={sweep['runs']} steps={sweep['steps']}: "
        f"{sweep['seconds']:.2f} s, {sweep['run_steps_per_s']:.3g} run·steps/s, {sweep['gflops']:.1f} GFLOP/s "
        f"= {100 * sweep['gflops'] / peak:.0f}% of the GEMM peak"
    )
    out = {"gemm_peak_gflops": peak, "gemm_shaped_gflops": shaped, **sweep}
    if args.variants:
        out["variants"] = variants(steps=max(100, args.steps // 10), peak=peak)
    return out


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
