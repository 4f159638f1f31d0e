"""`python -m benchmarks [--size small|full] [--only NAME ...]`: run every benchmark and print its ratios.

`make bench` runs the `small` size (313 s measured on 2 shared CPU cores at load 2–3.6); `--size full` is the size quoted
in benchmarks/README.md (≈ 16 min). Never part of the tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

NAMES = ("throughput", "torch", "step_cost", "scaling", "agreement", "slow_vs_discrete", "paper_scale")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="run the benchmarks (ratios measured side by side)")
    parser.add_argument("--size", choices=("small", "full"), default="small")
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES))
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    small = args.size == "small"
    t_start = time.perf_counter()

    def section(title: str) -> None:
        print(f"\n== {title} (size {args.size}; load average {os.getloadavg()[0]:.1f}; "
              f"{time.perf_counter() - t_start:.0f} s so far) ==", flush=True)

    if "throughput" in args.only:
        from benchmarks import discrete_throughput

        section("discrete sweep throughput and %GEMM (issues 2, 8)")
        discrete_throughput.main(["--steps", "2000" if small else "10000", "--variants"])
    if "torch" in args.only:
        from benchmarks import torch_baseline

        section("discrete sweep vs a per-run PyTorch CPU loop (issue 8)")
        torch_baseline.main(["--size", args.size])
    if "step_cost" in args.only:
        from benchmarks import step_cost

        section("where the time of a label-noise GD step goes (issue 8)")
        step_cost.main(["--size", args.size])
    if "scaling" in args.only:
        from benchmarks import scaling

        section("scaling against d, runs and devices; peak memory (issue 8)")
        scaling.main(["--size", args.size])
    if "agreement" in args.only:
        from benchmarks import recovery_agreement

        section("slow flow vs discrete: same recovery decision at d = 1000 (issues 3, 8)")
        recovery_agreement.main(["--size", args.size])
    if "slow_vs_discrete" in args.only:
        from benchmarks import slow_vs_discrete

        section("slow flow vs discrete simulation to the same slow time (issue 3)")
        slow_vs_discrete.main(etas=(0.01, 0.005) if small else (0.01, 0.005, 0.0025))
    if "paper_scale" in args.only:
        from benchmarks import paper_scale

        section("the paper sparse-recovery preset with the slow method, extrapolated from one instance (issue 4)")
        paper_scale.main(["--quick"] if small else [])
    print(f"\nall benchmarks: {time.perf_counter() - t_start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
