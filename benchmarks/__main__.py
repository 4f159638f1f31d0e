"""`python -m benchmarks [--size small|full] [--only NAME ...]`: run every benchmark and print its ratios.

`make bench` runs the `small` size (313 s measured on 2 shared CPU cores at load 2–3.6); `--size full` is the size quoted
in benchmarks/README.md (≈ 16 min). Never part of the tests.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time

def _by_size(module, size: str) -> None:
    module.main(["--size", size])


# name → (module, title, how to call its `main` at a size)
BENCHMARKS = {
    "throughput": ("discrete_throughput", "discrete sweep throughput and %GEMM (issues 2, 8)",
                   lambda m, size: m.main(["--steps", "2000" if size == "small" else "10000", "--variants"])),
    "torch": ("torch_baseline", "discrete sweep vs a per-run PyTorch CPU loop (issue 8)", _by_size),
    "step_cost": ("step_cost", "where the time of a label-noise GD step goes (issue 8)", _by_size),
    "scaling": ("scaling", "scaling against d, runs and devices; peak memory (issue 8)", _by_size),
    "lp": ("lp_solvers", "weighted-ℓ1 LP: interior-point method vs HiGHS (reference solvers)", _by_size),
    "adam_flow": ("adam_flow", "quasi-static Adam flow stepper: original vs fast (d = 1000; full adds d = 10⁴)", _by_size),
    "paper_protocol": ("paper_protocol", "the paper-protocol presets, whole: wall time vs the printed estimate (full adds the d = 2000 showcase)", _by_size),
    "agreement": ("recovery_agreement", "slow flow vs discrete: same recovery decision at d = 1000 (issues 3, 8)", _by_size),
    "slow_vs_discrete": ("slow_vs_discrete", "slow flow vs discrete simulation to the same slow time (issue 3)",
                         lambda m, size: m.main(etas=(0.01, 0.005) if size == "small" else (0.01, 0.005, 0.0025))),
    "paper_scale": ("paper_scale", "the paper sparse-recovery preset by its limits, per-instance stages at the ends of its n grid, extrapolated beside the cost model (issues 4, 12)",
                    lambda m, size: m.main(["--quick"] if size == "small" else [])),
    "paper_discrete": ("discrete_paper_scale", "the discrete paper scale: µs per run-step at d = 10⁴, float32 vs bfloat16-stored X vs SGD and Adam sharing X (issue 12)",
                       lambda m, size: m.main(["--quick"] if size == "small" else [])),
}
NAMES = tuple(BENCHMARKS)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run the benchmarks (ratios measured side by side)")
    parser.add_argument("--size", choices=("small", "full"), default="small")
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    t_start = time.perf_counter()
    for name in NAMES:
        if name not in args.only:
            continue
        module, title, call = BENCHMARKS[name]
        print(f"\n== {title} (size {args.size}; load average {os.getloadavg()[0]:.1f}; "
              f"{time.perf_counter() - t_start:.0f} s so far) ==", flush=True)
        call(importlib.import_module(f"benchmarks.{module}"), args.size)
    print(f"\nall benchmarks: {time.perf_counter() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
