"""Classroom demos: each module has DESCRIPTION and `run(out_dir, small=False) -> list[Path]`.

Every demo is also a jupytext notebook (percent format) in `notebooks/` that calls the same code.
"""

from __future__ import annotations

import importlib
from pathlib import Path

DEMOS: dict[str, str] = {
    "valley": "implicit_bias_lab.experiments.demos.valley",
    "rotation": "implicit_bias_lab.experiments.demos.rotation",
    "kernel-rich": "implicit_bias_lab.experiments.demos.kernel_rich",
    "label-noise-rescue": "implicit_bias_lab.experiments.demos.label_noise_rescue",
    "deep-linear-sharpness": "implicit_bias_lab.experiments.demos.deep_linear_sharpness",
}


def run_demo(name: str, out_dir: str | Path, small: bool = False) -> list[Path]:
    if name not in DEMOS:
        raise ValueError(f"demo must be one of {sorted(DEMOS)}, got {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return importlib.import_module(DEMOS[name]).run(out, small=small)
