"""Scaling of the discrete engine: wall time per run·step against d, the number of runs and the
number of (fake) devices, with the peak memory of each point (issue 8).

Workload: label-noise GD (full-batch ±0.5 label noise, η = 0.01) on the diagonal net
w = u⊙u − v⊙v, runs sharing one ±1 design with n = d/5 rows, float32, `make_runner` with one
block of min(runs, 64) runs (so a step of a block is a pair of (n×d)·(d×B) products; 4nd flops per
run and step). Every point runs in a fresh subprocess, so its peak resident memory (VmHWM of
that process, see `peak_rss_mb`; it includes Python, JAX and XLA themselves: the `base` column is
the same process's peak before the problem is built) belongs to it alone. Compilation is excluded (AOT `lower().compile()`), the timed call is the best of two.

Devices: the subprocess gets `XLA_FLAGS=--xla_force_host_platform_device_count=K` and the runs are
split over the K CPU "devices" with `jax.shard_map` (one slice of runs per device, no
communication). These fake devices share the machine's cores: the point measures the overhead of
spreading a sweep over devices, not a speed-up, which needs K real accelerators.

Writes benchmarks/results/scaling.{csv,md,png} (`--size small`: scaling-small.*). `python -m benchmarks.scaling [--size small|full]`
(small: ≈ 1.5 min, full: ≈ 3 min on 2 cores). Not part of the tests.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM of its own address space. (`ru_maxrss` is not
    used: Linux carries the parent's high-water mark across fork + exec into it, so a child of a
    big process — `python -m benchmarks` — would report its parent's size.)"""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def point(d: int, runs: int, devices: int, steps: int) -> dict:
    """One measurement, in this process (called in a fresh subprocess by `measure`)."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, PartitionSpec as P

    from implicit_bias_lab.models import DiagonalNet, SquaredLossProblem, make_sparse_regression
    from implicit_bias_lab.sde.discrete import sgd
    from implicit_bias_lab.sde.discrete.simulate import make_runner
    from implicit_bias_lab.sde.noise import LabelNoise

    base_mb = peak_rss_mb()
    devs = jax.devices()[:devices]
    if len(devs) != devices or runs % devices:
        raise SystemExit(f"need {devices} devices dividing {runs} runs, got {len(jax.devices())}")
    n = max(1, d // 5)
    data = make_sparse_regression(jax.random.PRNGKey(0), n, d, min(10, d), "rademacher", dtype=jnp.float32)
    problem = SquaredLossProblem(DiagonalNet(d), data.X, data.y)
    local = runs // devices
    runner = make_runner(LabelNoise(0.5), sgd(0.01), num_steps=steps, log_every=steps, block_size=min(local, 64))
    theta0 = jnp.full((runs, 2 * d), 0.3, jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(1), runs)
    # the problem is an argument (not closed over), so X is not embedded in the program as a constant
    if devices == 1:
        fn = jax.jit(lambda pb, th, k: runner(pb, th, k).theta)
    else:
        mesh = Mesh(devs, ("runs",))
        fn = jax.jit(jax.shard_map(lambda pb, th, k: runner(pb, th, k).theta, mesh=mesh,
                                   in_specs=(P(), P("runs"), P("runs")), out_specs=P("runs"),
                                   check_vma=False))  # the engine's status carry starts unvarying
        sharding = jax.sharding.NamedSharding(mesh, P("runs"))
        theta0, keys = jax.device_put(theta0, sharding), jax.device_put(keys, sharding)
        problem = jax.device_put(problem, jax.sharding.NamedSharding(mesh, P()))
    t0 = time.perf_counter()
    compiled = fn.lower(problem, theta0, keys).compile()
    compile_s = time.perf_counter() - t0
    walls = []
    for _ in range(2):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(problem, theta0, keys))
        walls.append(time.perf_counter() - t0)
    wall = min(walls)
    return {
        "d": d, "n": n, "runs": runs, "devices": devices, "steps": steps, "block_size": min(local, 64),
        "wall_s": wall, "compile_s": compile_s, "us_per_run_step": 1e6 * wall / (runs * steps),
        "gflops": 4 * n * d * runs * steps / wall / 1e9,
        "peak_rss_mb": peak_rss_mb(), "base_rss_mb": base_mb,
        "jax_devices": len(jax.devices()),
    }


def measure(d: int, runs: int, devices: int, steps: int) -> dict:
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={devices}").strip()
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    args = json.dumps({"d": d, "runs": runs, "devices": devices, "steps": steps})
    proc = subprocess.run([sys.executable, "-m", "benchmarks.scaling", "--point", args], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"point {args} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["load_avg_1m"] = os.getloadavg()[0]
    return row


def steps_for(d: int, runs: int, budget_gflop: float) -> int:
    """Steps so that a point does about `budget_gflop` of matrix work (≥ 10, a multiple of 10)."""
    n = max(1, d // 5)
    return max(10, int(budget_gflop * 1e9 / (4 * n * d * runs)) // 10 * 10)


def plan(size: str) -> list[tuple[str, int, int, int, int]]:
    budget = 20.0 if size == "small" else 60.0  # GFLOP per point (≈ 0.5–2 s at this machine's rate)
    pts = []
    for d in (100, 1000, 10_000):
        runs = 64
        # small d is overhead-bound: cap the steps so the point stays ≈ 1 s
        steps = min(steps_for(d, runs, budget), 20_000 if size == "small" else 50_000)
        pts.append(("d", d, runs, 1, steps))
    for runs in (1, 4, 16, 64, 256) if size == "full" else (1, 16, 64, 256):
        pts.append(("runs", 1000, runs, 1, min(steps_for(1000, runs, budget), 20_000)))
    for devices in (1, 2, 8):
        pts.append(("devices", 1000, 64, devices, steps_for(1000, 64, budget)))
    return pts


def write_outputs(rows: list[dict], header: str, stem: str = "scaling") -> None:
    RESULTS.mkdir(exist_ok=True)
    fields = ["sweep", "d", "n", "runs", "devices", "block_size", "steps", "wall_s", "compile_s", "us_per_run_step",
              "gflops", "peak_rss_mb", "base_rss_mb", "load_avg_1m"]
    with open(RESULTS / f"{stem}.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    lines = [header, "",
             "| sweep | d | n | runs | devices | steps | wall (s) | µs per run·step | GFLOP/s | peak RSS (MB) | base RSS (MB) | load (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['sweep']} | {r['d']} | {r['n']} | {r['runs']} | {r['devices']} | {r['steps']} | {r['wall_s']:.2f} | "
                     f"{r['us_per_run_step']:.3g} | {r['gflops']:.1f} | {r['peak_rss_mb']:.0f} | {r['base_rss_mb']:.0f} | {r['load_avg_1m']:.1f} |")
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot")
        return
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (sweep, key, label) in zip(axes, [("d", "d", "d (n = d/5, 64 runs)"), ("runs", "runs", "runs (d = 1000, n = 200)"),
                                             ("devices", "devices", "fake CPU devices (d = 1000, 64 runs)")]):
        sel = [r for r in rows if r["sweep"] == sweep]
        x = [r[key] for r in sel]
        ax.loglog(x, [r["us_per_run_step"] for r in sel], "o-", label="µs per run·step")
        ax.set_xlabel(label)
        ax.set_ylabel("µs per run·step")
        ax2 = ax.twinx()
        ax2.loglog(x, [r["peak_rss_mb"] for r in sel], "s--", color="C1", label="peak RSS (MB)")
        ax2.set_ylabel("peak RSS (MB)", color="C1")
        from matplotlib.ticker import NullFormatter

        for a in (ax, ax2):
            a.xaxis.set_minor_formatter(NullFormatter())
            a.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(x)
        ax.set_xticklabels([str(v) for v in x])
        lo, hi = min(r["us_per_run_step"] for r in sel), max(r["us_per_run_step"] for r in sel)
        ax.set_yticks(sorted({lo, hi}))
        ax.set_yticklabels([f"{v:.3g}" for v in sorted({lo, hi})])
        lo, hi = min(r["peak_rss_mb"] for r in sel), max(r["peak_rss_mb"] for r in sel)
        ax2.set_yticks(sorted({lo, hi}))
        ax2.set_yticklabels([f"{v:.0f}" for v in sorted({lo, hi})])
        ax.grid(True, which="major", alpha=0.3)
    fig.suptitle("label-noise GD, diagonal net, float32, runs sharing a ±1 design — " + header, fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{stem}.png", dpi=120)
    plt.close(fig)


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--point", help=argparse.SUPPRESS)
    args = parser.parse_args([] if argv is None else argv)
    if args.point:
        print(json.dumps(point(**json.loads(args.point))))
        return []
    header = (f"Scaling ({args.size}): {datetime.date.today().isoformat()}, {platform.machine()} {os.cpu_count()} CPUs "
              f"({cpu_name()}), `python -m benchmarks.scaling --size {args.size}`, "
              f"load average at start {os.getloadavg()[0]:.1f}")
    print(header, flush=True)
    rows = []
    for sweep, d, runs, devices, steps in plan(args.size):
        row = {"sweep": sweep, **measure(d, runs, devices, steps)}
        rows.append(row)
        print(f"{sweep:8s} d={d:<6d} runs={runs:<4d} devices={devices} steps={steps:<6d} {row['wall_s']:7.2f} s  "
              f"{row['us_per_run_step']:8.3g} µs/run·step  {row['gflops']:6.1f} GFLOP/s  peak RSS {row['peak_rss_mb']:6.0f} MB "
              f"(base {row['base_rss_mb']:.0f})  load {row['load_avg_1m']:.1f}", flush=True)
    stem = "scaling" if args.size == "full" else "scaling-small"
    write_outputs(rows, header, stem)
    print(f"wrote {RESULTS / stem}.csv, .md, .png")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
