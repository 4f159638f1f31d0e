"""Discrete sweep throughput: label-noise GD on a diagonal net, many runs sharing a ±1 design.

Setting (issue 2): d = 1000, n = 200, 64 runs, 10⁴ steps, float32. Per step and run the work is
two products with X (forward Xw and backward Xᵀ(r − ε)): 4nd flops, plus O(d) elementwise work,
so a block of runs sharing X is a pair of (n×d)·(d×R) matrix products. Reported: run·steps per
second, achieved GFLOP/s, and the fp32 GEMM rate of the same machine measured in the same run
(a square product large enough to reach the machine's matrix peak, and one of the engine's shape).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

import models  # noqa: F401
from models import DiagonalNet, SquaredLossProblem, make_sparse_regression
from sde.discrete import sgd
from sde.discrete.simulate import make_runner
from sde.noise import LabelNoise


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


def discrete_sweep(d: int = 1000, n: int = 200, runs: int = 64, steps: int = 10_000, block_size: int = 64) -> dict:
    data = make_sparse_regression(jax.random.PRNGKey(0), n, d, 10, "rademacher", dtype=jnp.float32)
    problem = SquaredLossProblem(DiagonalNet(d), data.X, data.y)
    runner = make_runner(LabelNoise(0.5), sgd(0.01), num_steps=steps, log_every=steps, block_size=block_size)
    theta0 = jnp.full((runs, 2 * d), 0.3, jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(1), runs)
    t = best_time(lambda: runner(problem, theta0, keys).theta, repeats=2)
    flops = 4 * n * d * runs * steps
    return {"d": d, "n": n, "runs": runs, "steps": steps, "block_size": block_size, "seconds": t,
            "run_steps_per_s": runs * steps / t, "gflops": flops / t / 1e9}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--block-size", type=int, default=64)
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
    return {"gemm_peak_gflops": peak, "gemm_shaped_gflops": shaped, **sweep}


if __name__ == "__main__":
    main()
