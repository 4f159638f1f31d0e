"""Experiments by name. Each entry is a module with `DESCRIPTION`, a frozen dataclass `Config`,
`PRESETS` (name → settings, each citing its source) and `run(config, out_dir) -> dict`."""

from __future__ import annotations

import importlib
from types import ModuleType

EXPERIMENTS: dict[str, str] = {
    "sparse-recovery": "experiments.sparse_recovery",
}


def load_experiment(name: str) -> ModuleType:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, got {name!r}")
    return importlib.import_module(EXPERIMENTS[name])
