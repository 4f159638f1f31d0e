"""The discrete paper scale on this machine (issue 12, item 5): what one run-step of the
sparse-recovery sweep's discrete SGD and Adam costs at d = 10⁴, and what storing the ±1 design in
bfloat16 and sharing it between the two optimizers of an instance change.

Shape: the `paper-protocol` settings at d = 10⁴, κ = 50 (±1 design, u = v = 0.1·g, ±0.5 label
noise, Adam η = 0.1, ε = 10⁻⁶), one chunk of 8 instances of one n (n_max = n, no padding), blocks
of 8, float32, run exactly as the sweep runs them (`sparse_recovery.run_discrete`, and
`run_discrete_group` for the shared variants) on problems built once. Variants, side by side:

* `sgd` / `adam`, float32 design — each optimizer its own program, each instance's X at 4 bytes
  an entry (the sweep by default);
* the same with `design_dtype = "bfloat16"` — X stored at 2 bytes an entry, upcast at every use
  (bitwise the same runs);
* `shared` — SGD and Adam side by side in one program (`share_design`): one X per instance, the
  products X·[w_sgd, w_adam] and Xᵀ[r_sgd, r_adam]; its time per run-step is per *pair* (one SGD
  and one Adam step), to compare with the sum of the two separate ones; with float32 and with
  bfloat16 storage.

Printed: µs per run-step (time / (runs × steps)), and the rate at which the design is read if each
step read it twice (forward and backward) from memory, 2·n·d·itemsize per run-step (per pair for
`shared`). Compile excluded (one call first), best of `repeats` interleaved rounds, the load
average before and after. `python -m benchmarks.discrete_paper_scale [--quick] [--steps S]
[--repeats R] [--n N ...]`; `--quick` (in `make bench`) is n = 500 only with fewer steps.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp

D, KAPPA, RUNS = 10_000, 50, 8


def variants(n: int, steps: tuple[int, int]) -> dict[str, tuple]:
    """label → ({step count: zero-argument function running the chunk for that many steps}, bytes
    of X per run-step if read twice a step) for one n."""
    from implicit_bias_lab.experiments import sparse_recovery as sr

    base = {**sr.PRESETS["paper-protocol"], "d": D, "kappa": KAPPA, "n": (n,), "seeds": RUNS, "average_last": 0, "fixed_steps": 1,
            "chunk_size": RUNS, "block_size": RUNS, "methods": ("discrete",)}
    probe = sr.Config(**base)
    chunk = sr.instances(probe)
    data = [sr.instance_data(probe, inst) for inst in chunk]
    starts = [(None, None), (None, None)]
    out = {}
    for storage in ("float32", "bfloat16"):
        narrow = "" if storage == "float32" else storage
        problems = sr.padded_problems(sr.Config(**base, design_dtype=narrow), data, sr.compute_dtype(probe))
        traffic = 2 * n * D * jnp.dtype(storage).itemsize
        for opt in ("sgd", "adam"):
            fns = {}
            for k in steps:
                config = sr.Config(**{**base, "fixed_steps": k}, design_dtype=narrow)
                fns[k] = lambda config=config, opt=opt, problems=problems: sr.run_discrete(config, opt, chunk, data, problems=problems).theta
            out[f"{opt}, {storage} X"] = (fns, traffic)
        fns = {}
        for k in steps:
            config = sr.Config(**{**base, "fixed_steps": k}, design_dtype=narrow, share_design=True)
            fns[k] = lambda config=config, problems=problems: [s.theta for s in sr.run_discrete_group(
                config, ("sgd", "adam"), chunk, data, starts, problems=problems)]
        out[f"shared sgd+adam, {storage} X"] = (fns, traffic)
    return out


def measure(n: int, steps: int, repeats: int) -> dict[str, dict[str, float]]:
    """µs per run-step of every variant at this n: the difference of calls of `steps` and
    3·`steps` steps (each the best of `repeats` interleaved rounds), so what a call costs whatever
    its length (launch, the block's setup) drops out; that fixed part is printed apart."""
    short, long = steps, 3 * steps
    cases = variants(n, (short, long))
    for fns, _ in cases.values():  # compile and warm up
        for fn in fns.values():
            jax.block_until_ready(fn())
    best = {(label, k): float("inf") for label in cases for k in (short, long)}
    for _ in range(repeats):  # interleaved: a change of load hits every variant alike
        for label, (fns, _) in cases.items():
            for k, fn in fns.items():
                t0 = time.perf_counter()
                jax.block_until_ready(fn())
                best[label, k] = min(best[label, k], time.perf_counter() - t0)
    rows = {}
    for label, (_, traffic) in cases.items():
        per_step = (best[label, long] - best[label, short]) / (long - short)  # one step of the block of RUNS runs
        us = 1e6 * per_step / RUNS
        rows[label] = {"us_per_run_step": us, "fixed_s": best[label, short] - short * per_step,
                       "design_gb_per_s": traffic / us / 1e3, "seconds": {short: best[label, short], long: best[label, long]}}
    separate = {s: rows[f"sgd, {s} X"]["us_per_run_step"] + rows[f"adam, {s} X"]["us_per_run_step"] for s in ("float32", "bfloat16")}
    for label, row in rows.items():
        pair = label.startswith("shared")
        print(f"   {label:28s} {row['us_per_run_step']:7.0f} µs/run·step{' pair' if pair else '     '}  "
              f"X at {row['design_gb_per_s']:5.1f} GB/s if read twice a step;  fixed {1e3 * row['fixed_s']:5.0f} ms a call "
              f"({short} steps {row['seconds'][short]:.3f} s, {long} steps {row['seconds'][long]:.3f} s)", flush=True)
    ref = separate["float32"]
    for s in ("float32", "bfloat16"):
        shared = rows[f"shared sgd+adam, {s} X"]["us_per_run_step"]
        print(f"   -> {s} X: sgd + adam separate {separate[s]:.0f} µs per pair of run-steps, shared {shared:.0f} µs "
              f"({separate[s] / shared:.2f}×; {ref / shared:.2f}× against float32 separate)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 500 only, 5 and 15 steps, 2 rounds (make bench)")
    parser.add_argument("--n", type=int, nargs="+", default=None, help="sample sizes (default 500 1000)")
    parser.add_argument("--steps", type=int, default=None, help="the shorter call's steps, the longer has 3× (default 10, quick 5)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 3, quick 2)")
    args = parser.parse_args([] if argv is None else argv)
    from implicit_bias_lab.precision import enable_x64

    enable_x64()  # as the sweep: the data are drawn in float64, the runs compute in float32
    ns = args.n or ([500] if args.quick else [500, 1000])
    steps = args.steps or (5 if args.quick else 10)
    repeats = args.repeats or (2 if args.quick else 3)
    t0 = time.perf_counter()
    print(f"devices: {jax.devices()}; load average {os.getloadavg()[0]:.1f}", flush=True)
    out = {}
    for n in ns:
        print(f"-- d = {D}, n = {n}: {RUNS} instances × {steps} and {3 * steps} steps, blocks of {RUNS}, float32 compute; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        out[n] = measure(n, steps, repeats)
    print(f"load average at the end {os.getloadavg()[0]:.1f}; {time.perf_counter() - t0:.0f} s in all", flush=True)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
