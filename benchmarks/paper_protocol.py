"""Wall time of the paper-protocol sparse-recovery presets, whole (issue 12's CPU showcase).

`small` runs `paper-protocol-small` (d = 200) and `paper-protocol` (d = 1000); `full` adds
`paper-protocol-showcase` (d = 2000, κ = 20, n = 60…340, 8 seeds, 2·10⁴ steps of SGD and Adam, the
ℓ1 program; target ≤ 15 min on 2 CPU cores). Each preset runs into a fresh temporary run directory
(nothing cached), and the table prints wall time, the estimate printed before a sweep
(`describe_cost`) and Adam's and SGD's success rates at the smallest and largest n.

    python -m benchmarks.paper_protocol [--size small|full]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from implicit_bias_lab.experiments import sparse_recovery as sr
from implicit_bias_lab.experiments.recovery_results import as_records, load_results

PRESETS = {"small": ("paper-protocol-small", "paper-protocol"), "full": ("paper-protocol-small", "paper-protocol", "paper-protocol-showcase")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=tuple(PRESETS), default="small")
    args = parser.parse_args([] if argv is None else argv)
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"{'preset':>26} | {'wall s':>7} | {'estimate s':>10} | success at n_min / n_max (Adam; SGD)", flush=True)
    rows = {}
    for name in PRESETS[args.size]:
        config = sr.Config(**sr.PRESETS[name])
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            sr.run(config, Path(tmp), progress=open(os.devnull, "w"))
            wall = time.perf_counter() - t0
            ds = as_records(load_results(Path(tmp) / "results.nc"))
        rates = {}
        for opt in ("adam", "sgd"):
            sel = ((ds.optimizer == opt) & (ds.method == "discrete")).values
            rates[opt] = [float(np.mean(ds.recovered.values[sel][ds.n.values[sel] == n])) for n in (min(config.n), max(config.n))]
        rows[name] = {"wall_s": wall, "estimate_s": sr.describe_cost(config)[1], "success": rates}
        print(f"{name:>26} | {wall:7.1f} | {rows[name]['estimate_s']:10.0f} | {rates['adam']}; {rates['sgd']}", flush=True)
    return rows


if __name__ == "__main__":
    main()
