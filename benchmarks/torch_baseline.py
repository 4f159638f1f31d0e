"""The lab's discrete sweep against the way these experiments are usually run: one plain PyTorch
(CPU) process per configuration, a Python loop over steps (issue 8).

Both sides run the same algorithm on the same problem — label-noise GD (fresh ±δ noise on every
label each step) and Adam without bias correction on the diagonal net w = u⊙u − v⊙v with a ±1
design, d = 1000, n = 200 — in float32. The baseline is a faithful plain reimplementation: one
run at a time, autograd-free closed-form gradient as a user would write it with torch tensors.
Its per-step time is measured on a few hundred steps of one run and scaled to the sweep
(64 runs × 10⁴ steps); the lab's sweep is measured whole. Requires the optional `bench` extra
(torch); skipped with a message otherwise.

`sparse_recovery_default` does the same at the `default` sparse-recovery size (d = 200, κ = 5,
n ∈ {15, …, 40}, 8 seeds, the preset's step budget), where every run has its own design: the lab
sweep is `sparse_recovery.run_discrete` on the preset's chunks, measured whole; PyTorch runs whole
runs of the full budget for one seed per n, and the total is extrapolated to all seeds.

`python -m benchmarks.torch_baseline [--size small|full] [--only d1000|default]`
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.discrete_throughput import best_time
from implicit_bias_lab.models import DiagonalNet, SquaredLossProblem, make_sparse_regression
from implicit_bias_lab.sde.discrete import adam, sgd
from implicit_bias_lab.sde.discrete.simulate import make_runner
from implicit_bias_lab.sde.noise import LabelNoise


TORCH_THREADS = 1
"""PyTorch runs with one intra-op thread: on a shared 2-core machine its default 2-thread pool was
1.1–60× slower on these vector-sized ops (measured: Adam d = 1000 266 µs/step with 1 thread,
5400–15900 µs with 2 at load ≈ 5.8), and a per-run loop is run one process per core anyway.
`d1000` also prints the default-thread figure."""


def torch_step(X, y, optimizer: str, *, lr: float, delta: float, alpha: float, b1: float, b2: float, eps: float, gen):
    """One plain-PyTorch step of label-noise GD ("sgd") or Adam without bias correction on the
    diagonal net from u = v = α·1, as a closure over its state (what a user's loop body does)."""
    import torch

    n, d = X.shape
    state = {"u": torch.full((d,), alpha), "v": torch.full((d,), alpha),
             "m_u": torch.zeros(d), "m_v": torch.zeros(d), "s_u": torch.zeros(d), "s_v": torch.zeros(d)}

    def one_step():
        u, v = state["u"], state["v"]
        eps_lab = (torch.randint(0, 2, (n,), generator=gen) * 2 - 1).to(torch.float32) * delta
        r = X @ (u * u - v * v) - (y + eps_lab)
        g = X.T @ r / n
        gu, gv = 2 * u * g, -2 * v * g
        if optimizer == "sgd":
            state["u"], state["v"] = u - lr * gu, v - lr * gv
        else:
            state["m_u"], state["m_v"] = b1 * state["m_u"] + (1 - b1) * gu, b1 * state["m_v"] + (1 - b1) * gv
            state["s_u"], state["s_v"] = b2 * state["s_u"] + (1 - b2) * gu * gu, b2 * state["s_v"] + (1 - b2) * gv * gv
            state["u"] = u - lr * state["m_u"] / (state["s_u"].sqrt() + eps)
            state["v"] = v - lr * state["m_v"] / (state["s_v"].sqrt() + eps)

    return one_step


def torch_seconds_per_step(optimizer: str, d: int, n: int, steps: int = 300, delta: float = 0.5,
                           threads: int | None = TORCH_THREADS) -> float:
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    X = (torch.randint(0, 2, (n, d), generator=gen) * 2 - 1).to(torch.float32)
    y = X[:, :10].sum(dim=1)
    one_step = torch_step(X, y, optimizer, lr=0.01, delta=delta, alpha=0.3, b1=0.9, b2=0.999, eps=1e-8, gen=gen)

    for _ in range(20):
        one_step()
    t0 = time.perf_counter()
    for _ in range(steps):
        one_step()
    elapsed = (time.perf_counter() - t0) / steps
    torch.set_num_threads(previous)
    return elapsed


def lab_seconds(optimizer: str, d: int, n: int, runs: int, steps: int, block_size: int = 64) -> float:
    data = make_sparse_regression(jax.random.PRNGKey(0), n, d, 10, "rademacher", dtype=jnp.float32)
    problem = SquaredLossProblem(DiagonalNet(d), data.X, data.y)
    opt = sgd(0.01) if optimizer == "sgd" else adam(0.01, 0.9, 0.999, 1e-8, bias_correction=False)
    runner = make_runner(LabelNoise(0.5), opt, num_steps=steps, log_every=steps, block_size=block_size)
    theta0 = jnp.full((runs, 2 * d), 0.3, jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(1), runs)
    return best_time(lambda: runner(problem, theta0, keys).theta, repeats=1)


def d1000(d: int = 1000, n: int = 200, runs: int = 64, steps: int = 10_000, gemm_gflops: float | None = None) -> dict:
    out = {}
    for optimizer in ("sgd", "adam"):
        per_step = torch_seconds_per_step(optimizer, d, n)
        per_step_default_threads = torch_seconds_per_step(optimizer, d, n, threads=None)
        torch_total = per_step * runs * steps
        lab_total = lab_seconds(optimizer, d, n, runs, steps)
        out[optimizer] = {"torch_s": torch_total, "lab_s": lab_total, "ratio": torch_total / lab_total}
        print(
            f"{optimizer:4s} d={d} n={n} {runs} runs × {steps} steps: PyTorch per-run loop {torch_total:8.1f} s "
            f"(measured {per_step * 1e6:.0f} µs/step with {TORCH_THREADS} thread; {per_step_default_threads * 1e6:.0f} µs/step with "
            f"torch's default threads), lab sweep {lab_total:6.2f} s → {torch_total / lab_total:5.1f}× (load average {os.getloadavg()[0]:.1f})"
        )
        out[optimizer]["torch_us_per_step_default_threads"] = 1e6 * per_step_default_threads
    if gemm_gflops:
        # the best the lab can do is 4nd flops per run·step at the GEMM rate
        ceiling = out["sgd"]["torch_s"] / (runs * steps) / (4 * n * d / (gemm_gflops * 1e9))
        out["sgd"]["ceiling"] = ceiling
        print(f"     ceiling for label-noise GD: PyTorch µs/step ÷ (4nd flops at the {gemm_gflops:.0f} GFLOP/s GEMM rate) = {ceiling:.0f}×")
    return out


# ---------------------------------------------------------------------------------------------
# The `default` sparse-recovery size (experiments.sparse_recovery.PRESETS["default"])
# ---------------------------------------------------------------------------------------------


def torch_run_seconds(X, y, optimizer: str, steps: int, lr: float, delta: float, alpha: float,
                      b1: float = 0.9, b2: float = 0.999, eps: float = 0.0, seed: int = 0) -> float:
    """Wall time of one whole plain-PyTorch run (Python loop over `steps`, float32, one run)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(TORCH_THREADS)
    gen = torch.Generator().manual_seed(seed)
    X = torch.as_tensor(np.array(X), dtype=torch.float32)
    y = torch.as_tensor(np.array(y), dtype=torch.float32)
    one_step = torch_step(X, y, optimizer, lr=lr, delta=delta, alpha=alpha, b1=b1, b2=b2, eps=eps, gen=gen)
    t0 = time.perf_counter()
    for _ in range(steps):
        one_step()
    elapsed = time.perf_counter() - t0
    torch.set_num_threads(previous)
    return elapsed


def sparse_recovery_default(optimizers: tuple[str, ...] = ("sgd", "adam"), torch_seeds: int = 1,
                            preset: str = "default", rounds: int = 2) -> dict:
    """Lab sweep of the preset (every (n, seed) instance, chunked and vmapped exactly as
    `sparse_recovery.run_discrete` does, full step budget `Config.steps`; chunks one after the
    other as `sweep` runs them, and, apart, all chunks dispatched at once) against the per-run
    PyTorch loop. PyTorch: whole runs of the full budget for `torch_seeds` seed(s) per n, timed,
    and extrapolated to all seeds (the cost of a run does not depend on its seed). Both start
    from u = v = α (start = "init"), the sweep's own start point, so no GD landing is needed."""
    from implicit_bias_lab.experiments import sparse_recovery as sr

    config = sr.Config(**{**sr.PRESETS[preset], "start": "init"})
    insts = sr.instances(config)
    chunks = [insts[i : i + config.chunk_size] for i in range(0, len(insts), config.chunk_size)]
    datas = [[sr.instance_data(config, inst) for inst in chunk] for chunk in chunks]
    out = {}
    for optimizer in optimizers:
        steps = config.steps(optimizer)

        def lab_sequential():  # as `sparse_recovery.sweep` runs it: one chunk after the other
            return [jax.block_until_ready(sr.run_discrete(config, optimizer, chunk, data).theta)
                    for chunk, data in zip(chunks, datas)]

        def lab_concurrent():  # every chunk dispatched before waiting: XLA runs them side by side
            return [sr.run_discrete(config, optimizer, chunk, data).theta for chunk, data in zip(chunks, datas)]

        t0 = time.perf_counter()
        jax.block_until_ready(lab_sequential())
        first = time.perf_counter() - t0
        lab_s = lab_conc_s = float("inf")
        for _ in range(rounds):  # interleaved, best of `rounds`
            t0 = time.perf_counter()
            jax.block_until_ready(lab_sequential())
            lab_s = min(lab_s, time.perf_counter() - t0)
            t0 = time.perf_counter()
            jax.block_until_ready(lab_concurrent())
            lab_conc_s = min(lab_conc_s, time.perf_counter() - t0)
        lr = config.lr_sgd if optimizer == "sgd" else config.lr_adam
        per_n = {}
        for n in config.n:
            walls = []
            for seed in range(torch_seeds):
                data = sr.instance_data(config, sr.Instance(n, seed))
                walls.append(torch_run_seconds(data.X, data.y, optimizer, steps, lr, config.label_noise,
                                               config.init_scale, config.b1, config.b2, config.eps, seed))
            per_n[n] = float(np.mean(walls))
        torch_s = sum(per_n[inst.n] for inst in insts)
        measured = sum(per_n.values()) * torch_seeds
        out[optimizer] = {"runs": len(insts), "steps": steps, "lab_s": lab_s, "lab_first_call_s": first, "lab_concurrent_s": lab_conc_s,
                          "torch_s": torch_s, "torch_measured_s": measured, "torch_per_step_us": {n: 1e6 * t / steps for n, t in per_n.items()},
                          "lab_per_run_step_us": 1e6 * lab_s / (len(insts) * steps), "ratio": torch_s / lab_s, "ratio_concurrent": torch_s / lab_conc_s}
        print(
            f"{optimizer:4s} sparse-recovery '{preset}' d={config.d} n∈{config.n} × {config.seeds} seeds = {len(insts)} runs × "
            f"{steps} steps: PyTorch per-run loop {torch_s:7.1f} s (extrapolated from {len(config.n) * torch_seeds} whole runs, "
            f"{measured:.1f} s measured; µs/step by n: " + ", ".join(f"{n}:{1e6 * t / steps:.0f}" for n, t in per_n.items())
            + f"), lab sweep {lab_s:6.2f} s ({out[optimizer]['lab_per_run_step_us']:.2f} µs/run·step; first call incl. compile "
            f"{first:.1f} s) → {torch_s / lab_s:5.1f}×; its {len(chunks)} chunks dispatched together {lab_conc_s:6.2f} s → "
            f"{torch_s / lab_conc_s:5.1f}× (load average {os.getloadavg()[0]:.1f})", flush=True)
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="lab sweep vs a per-run PyTorch loop")
    parser.add_argument("--size", choices=("small", "full"), default="full",
                        help="small: default preset label-noise GD only, d=1000 with 2000 steps; full: also Adam, 10⁴ steps "
                        "(the default preset's runs are always whole)")
    parser.add_argument("--only", choices=("d1000", "default"), default=None)
    args = parser.parse_args([] if argv is None else argv)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch is not installed (pip install -e '.[bench]'): PyTorch baseline skipped")
        return {}
    from benchmarks.discrete_throughput import gemm_rate

    out = {}
    if args.only in (None, "default"):
        small = args.size == "small"
        out["default"] = sparse_recovery_default(("sgd",) if small else ("sgd", "adam"), rounds=1 if small else 2)
    if args.only in (None, "d1000"):
        out["d1000"] = d1000(steps=2000 if args.size == "small" else 10_000, gemm_gflops=gemm_rate(2048, 2048, 2048))
    return out


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
