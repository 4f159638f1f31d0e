"""The quasi-static Adam slow flow's stepper (`sde.slow_diagonal.integrate_adam_flow_stepped`): the
original one-extinction-per-step stepper (`kill_floor=0, closed_form_phase1=False, linalg="eigh",
reuse_factor=False`) side by side with the fast defaults (closed-form phase 1, extinctions batched
within kill_floor = 1e-3·max θ₀², Cholesky with reused factorizations) and the float32-Gram variant,
on GD landing points (float64, u = v = 1) of ±1 sparse regression at d = 1000, κ = 5, n = 100:
steps, seconds after compilation (best of two), max|Δw|/max|w| against the original, status.
`--size full` adds one d = 10⁴, κ = 50, n = 500 instance (the paper's scale) through the
per-instance path `integrate_adam_flow_compact` (wall time including its compilations, then a
second, cached call); the original stepper is not run there (≈ 8 h).

    python -m benchmarks.adam_flow [--size small|full]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax
import jax.numpy as jnp

from implicit_bias_lab.sde.slow_diagonal import STATUS_NAMES, integrate_adam_flow_compact, integrate_adam_flow_stepped

ORIGINAL = dict(kill_floor=0.0, closed_form_phase1=False, linalg="eigh", reuse_factor=False)
VARIANTS = {"original": ORIGINAL, "fast": {}, "fast, float32 Gram": dict(gram_dtype=jnp.float32)}


def landing(d: int, kappa: int, n: int, seed: int, gd_steps: int):
    from implicit_bias_lab.experiments import sparse_recovery as sr

    config = dataclasses.replace(sr.Config(**sr.PRESETS["paper"]), d=d, kappa=kappa, n=(n,), seeds=seed + 1, gd_steps=gd_steps)
    inst = sr.instances(config)[seed]
    data = sr.instance_data(config, inst)
    return data, jnp.asarray(sr.gd_landing(config, [inst])[0])


def _best_of_two(f):
    jax.block_until_ready(f())
    times, out = [], None
    for _ in range(2):
        t0 = time.perf_counter()
        out = jax.block_until_ready(f())
        times.append(time.perf_counter() - t0)
    return min(times), out


def small(seeds: int = 2) -> list[dict]:
    rows = []
    for seed in range(seeds):
        data, theta0 = landing(1000, 5, 100, seed, 4000)
        scale = float(jnp.max(theta0**2))
        ref = None
        for name, kw in VARIANTS.items():
            f = jax.jit(lambda X, y, th, kw=kw: integrate_adam_flow_stepped(X, y, th, 100 * scale, dt_max=0.01 * scale, **kw))
            sec, res = _best_of_two(lambda: f(data.X, data.y, theta0))
            ref = res if ref is None else ref
            dw = float(jnp.max(jnp.abs(res.w - ref.w)) / jnp.max(jnp.abs(ref.w)))
            rows.append(dict(seed=seed, variant=name, steps=int(res.num_phases), seconds=sec, dw=dw, status=STATUS_NAMES[int(res.status)]))
            print(f"d=1000 n=100 seed {seed}  {name:20s} steps {rows[-1]['steps']:5d}  {sec:8.3f} s  "
                  f"max|Δw|/max|w| {dw:.1e}  {rows[-1]['status']}", flush=True)
    return rows


def full() -> list[dict]:
    data, theta0 = landing(10_000, 50, 500, 0, 2000)
    scale = float(jnp.max(theta0**2))
    rows = []
    for name, kw in (("fast", dict(square_stop=True)), ("fast, float32 Gram", dict(gram_dtype=jnp.float32, square_stop=True))):
        for call in ("first (compiles)", "second (cached)"):
            t0 = time.perf_counter()
            res = jax.block_until_ready(integrate_adam_flow_compact(data.X, data.y, theta0, 100 * scale, dt_max=0.01 * scale, **kw))
            sec = time.perf_counter() - t0
            test = float(0.5 * jnp.sum((res.w - data.w_star) ** 2))
            rows.append(dict(variant=name, call=call, steps=int(res.num_phases), seconds=sec, test_loss=test, status=STATUS_NAMES[int(res.status)]))
            print(f"d=10^4 n=500 κ=50  {name:20s} {call:17s} steps {int(res.num_phases):5d}  {sec:7.1f} s  test loss {test:.3f}  "
                  f"{rows[-1]['status']}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="small")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    out = {"small": small()}
    if args.size == "full":
        out["full"] = full()
    return out


if __name__ == "__main__":
    main()
