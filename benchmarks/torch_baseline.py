"""The lab's discrete sweep against the way these experiments are usually run: one plain PyTorch
(CPU) process per configuration, a Python loop over steps (issue 8).

Both sides run the same algorithm on the same problem — label-noise GD (fresh ±δ noise on every
label each step) and Adam without bias correction on the diagonal net w = u⊙u − v⊙v with a ±1
design, d = 1000, n = 200 — in float32. The baseline is a faithful plain reimplementation: one
run at a time, autograd-free closed-form gradient as a user would write it with torch tensors.
Its per-step time is measured on a few hundred steps of one run and scaled to the sweep
(64 runs × 10⁴ steps); the lab's sweep is measured whole. Requires the optional `bench` extra
(torch); skipped with a message otherwise.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

import models  # noqa: F401
from benchmarks.discrete_throughput import best_time
from models import DiagonalNet, SquaredLossProblem, make_sparse_regression
from sde.discrete import adam, sgd
from sde.discrete.simulate import make_runner
from sde.noise import LabelNoise


def torch_seconds_per_step(optimizer: str, d: int, n: int, steps: int = 300, delta: float = 0.5) -> float:
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    gen = torch.Generator().manual_seed(0)
    X = (torch.randint(0, 2, (n, d), generator=gen) * 2 - 1).to(torch.float32)
    y = X[:, :10].sum(dim=1)
    u = torch.full((d,), 0.3)
    v = torch.full((d,), 0.3)
    m_u, m_v = torch.zeros(d), torch.zeros(d)
    s_u, s_v = torch.zeros(d), torch.zeros(d)
    lr, b1, b2 = (0.01, 0.9, 0.999)

    def one_step():
        nonlocal u, v, m_u, m_v, s_u, s_v
        eps_lab = (torch.randint(0, 2, (n,), generator=gen) * 2 - 1).to(torch.float32) * delta
        r = X @ (u * u - v * v) - (y + eps_lab)
        g = X.T @ r / n
        gu, gv = 2 * u * g, -2 * v * g
        if optimizer == "sgd":
            u, v = u - lr * gu, v - lr * gv
        else:
            m_u, m_v = b1 * m_u + (1 - b1) * gu, b1 * m_v + (1 - b1) * gv
            s_u, s_v = b2 * s_u + (1 - b2) * gu * gu, b2 * s_v + (1 - b2) * gv * gv
            u = u - lr * m_u / (s_u.sqrt() + 1e-8)
            v = v - lr * m_v / (s_v.sqrt() + 1e-8)

    for _ in range(20):
        one_step()
    t0 = time.perf_counter()
    for _ in range(steps):
        one_step()
    return (time.perf_counter() - t0) / steps


def lab_seconds(optimizer: str, d: int, n: int, runs: int, steps: int, block_size: int = 64) -> float:
    data = make_sparse_regression(jax.random.PRNGKey(0), n, d, 10, "rademacher", dtype=jnp.float32)
    problem = SquaredLossProblem(DiagonalNet(d), data.X, data.y)
    opt = sgd(0.01) if optimizer == "sgd" else adam(0.01, 0.9, 0.999, 1e-8, bias_correction=False)
    runner = make_runner(LabelNoise(0.5), opt, num_steps=steps, log_every=steps, block_size=block_size)
    theta0 = jnp.full((runs, 2 * d), 0.3, jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(1), runs)
    return best_time(lambda: runner(problem, theta0, keys).theta, repeats=1)


def main(d: int = 1000, n: int = 200, runs: int = 64, steps: int = 10_000) -> dict:
    try:
        import torch  # noqa: F401
    except ImportError:
        print("torch is not installed (pip install -e '.[bench]'): PyTorch baseline skipped")
        return {}
    out = {}
    for optimizer in ("sgd", "adam"):
        per_step = torch_seconds_per_step(optimizer, d, n)
        torch_total = per_step * runs * steps
        lab_total = lab_seconds(optimizer, d, n, runs, steps)
        out[optimizer] = {"torch_s": torch_total, "lab_s": lab_total, "ratio": torch_total / lab_total}
        print(
            f"{optimizer:4s} d={d} n={n} {runs} runs × {steps} steps: PyTorch per-run loop {torch_total:8.1f} s "
            f"(measured {per_step * 1e6:.0f} µs/step), lab sweep {lab_total:6.2f} s → {torch_total / lab_total:5.1f}×"
        )
    return out


if __name__ == "__main__":
    main()
