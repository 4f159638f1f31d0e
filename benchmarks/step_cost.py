"""Where the time of a label-noise GD step goes (issue 8): the engine's sweep timed side by side
with variants that each remove or change one part of the step.

Two shapes:
* `default` — the `default` sparse-recovery sweep of label-noise GD as `sparse_recovery.run_discrete`
  runs it: 40 runs, each with its own padded design (n_max = 40, d = 200; per-run problems, so a
  step of a block is a batch of matrix–vector products), η per run, blocks of 8.
* `d1000` — d = 1000, n = 200, 64 runs sharing X (a step of a block is a pair of GEMMs).

Variants (everything else as the engine runs it):
* `engine`        — LabelNoise(δ, "rademacher"): per run and step fold_in + n threefry draws.
* `no-noise`      — NoNoise: plain GD, the same matrix work without random numbers.
* `packed-bits`   — ±δ label noise from ⌈n/32⌉ threefry words per step (one bit per label):
                    the same distribution, 32× fewer random words, a different random stream.
* `block=B`       — the engine with another block size (changes results at the ulp level).
* `no momentum buffer` — plain SGD as an optax pair with an empty state, instead of `sgd(η)`,
                    which carries (and freezes with `where` every step) a momentum buffer even
                    for μ = 0 (identical updates).
* `2 chunks of 20` — the preset's chunking (chunk_size = 20, blocks of 8: each chunk padded to 24
                    runs, 48 run evaluations for 40 runs), chunks run one after the other.
Compile excluded; best of `repeats` interleaved rounds; all variants in one process, with the load
average printed. `python -m benchmarks.step_cost [--size small|full]`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp

from implicit_bias_lab.models import DiagonalNet, SquaredLossProblem, make_sparse_regression
from implicit_bias_lab.sde.discrete import sgd
from implicit_bias_lab.sde.discrete.simulate import make_runner
from implicit_bias_lab.sde.noise import LabelNoise, NoNoise


class PackedRademacherLabelNoise(LabelNoise):
    """±δ label noise drawn as bits of ⌈n/32⌉ uint32 words (full batch only)."""

    def _draw(self, key, shape, dtype):
        (n,) = shape
        words = jax.random.bits(key, (-(-n // 32),), jnp.uint32)
        bits = (words[:, None] >> jnp.arange(32, dtype=jnp.uint32)) & 1
        return self.delta * (2 * bits.reshape(-1)[:n].astype(dtype) - 1)


def default_shape(steps: int):
    """The default preset's label-noise GD sweep (all 40 instances, one chunk)."""
    from implicit_bias_lab.experiments import sparse_recovery as sr

    config = sr.Config(**{**sr.PRESETS["default"], "chunk_size": 40})
    insts = sr.instances(config)
    data = [sr.instance_data(config, inst) for inst in insts]
    problems = sr.padded_problems(config, data, jnp.float32)
    lr = jnp.asarray([config.lr_sgd * config.n_max / inst.n for inst in insts], jnp.float32)
    keys = jnp.stack([sr.run_key(config, inst, "sgd") for inst in insts])
    theta0 = jnp.full((len(insts), 2 * config.d), config.init_scale, jnp.float32)

    def make(noise, block_size):
        runner = make_runner(noise, lambda learning_rate: sgd(learning_rate), num_steps=steps, log_every=steps,
                             block_size=block_size, per_run_problems=True, per_run_hyperparameters=True)
        return lambda: runner(problems, theta0, keys, {"learning_rate": lr}).theta

    import optax

    def plain_sgd(learning_rate):
        return optax.GradientTransformation(lambda p: optax.EmptyState(), lambda g, st, p=None: (-learning_rate * g, st))

    def make_plain(noise, block_size):
        runner = make_runner(noise, plain_sgd, num_steps=steps, log_every=steps, block_size=block_size,
                             per_run_problems=True, per_run_hyperparameters=True)
        return lambda: runner(problems, theta0, keys, {"learning_rate": lr}).theta

    def make_chunked(noise, chunk=20, block_size=8):
        runner = make_runner(noise, lambda learning_rate: sgd(learning_rate), num_steps=steps, log_every=steps,
                             block_size=block_size, per_run_problems=True, per_run_hyperparameters=True)
        sl = [slice(i, i + chunk) for i in range(0, len(insts), chunk)]
        sub = [(jax.tree_util.tree_map(lambda a, s=s: a[s], problems), theta0[s], keys[s], {"learning_rate": lr[s]}) for s in sl]
        return lambda: [jax.block_until_ready(runner(*a).theta) for a in sub]

    delta = config.label_noise
    variants = {
        "2 chunks of 20 (preset)": make_chunked(LabelNoise(delta)),
        "engine (block 8)": make(LabelNoise(delta), 8),
        "no-noise (block 8)": make(NoNoise(), 8),
        "packed-bits (block 8)": make(PackedRademacherLabelNoise(delta), 8),
        "engine, block 1": make(LabelNoise(delta), 1),
        "engine, block 40": make(LabelNoise(delta), 40),
        "packed-bits, block 40": make(PackedRademacherLabelNoise(delta), 40),
        "no momentum buffer (block 8)": make_plain(LabelNoise(delta), 8),
        "packed + no momentum, block 40": make_plain(PackedRademacherLabelNoise(delta), 40),
    }
    return variants, len(insts), 4 * config.n_max * config.d


def d1000_shape(steps: int, runs: int = 64):
    d, n = 1000, 200
    data = make_sparse_regression(jax.random.PRNGKey(0), n, d, 10, "rademacher", dtype=jnp.float32)
    problem = SquaredLossProblem(DiagonalNet(d), data.X, data.y)
    theta0 = jnp.full((runs, 2 * d), 0.3, jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(1), runs)

    def make(noise, block_size):
        runner = make_runner(noise, sgd(0.01), num_steps=steps, log_every=steps, block_size=block_size)
        return lambda: runner(problem, theta0, keys).theta

    variants = {
        "engine (block 64)": make(LabelNoise(0.5), 64),
        "no-noise (block 64)": make(NoNoise(), 64),
        "packed-bits (block 64)": make(PackedRademacherLabelNoise(0.5), 64),
        "engine, block 8": make(LabelNoise(0.5), 8),
    }
    return variants, runs, 4 * n * d


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="full")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args([] if argv is None else argv)
    small = args.size == "small"
    out = {}
    for name, (variants, runs, flops) in {
        "default": default_shape(2000 if small else 10_000),
        "d1000": d1000_shape(200 if small else 1000),
    }.items():
        steps = (2000 if small else 10_000) if name == "default" else (200 if small else 1000)
        print(f"-- {name}: {runs} runs × {steps} steps, load average {os.getloadavg()[0]:.1f}", flush=True)
        for fn in variants.values():  # compile and warm up
            jax.block_until_ready(fn())
        best = {label: float("inf") for label in variants}
        for _ in range(args.repeats):  # interleaved rounds: a load change hits every variant alike
            for label, fn in variants.items():
                t0 = time.perf_counter()
                jax.block_until_ready(fn())
                best[label] = min(best[label], time.perf_counter() - t0)
        rows = {}
        for label, t in best.items():
            rows[label] = {"seconds": t, "us_per_run_step": 1e6 * t / (runs * steps), "gflops": flops * runs * steps / t / 1e9}
            print(f"   {label:32s} {t:7.3f} s  {rows[label]['us_per_run_step']:7.3f} µs/run·step  "
                  f"{rows[label]['gflops']:6.1f} GFLOP/s (matrix work only)", flush=True)
        out[name] = rows
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
