"""Experiments by name. Each entry is a module with `DESCRIPTION`, a frozen dataclass `Config`,
`PRESETS` (name → settings, each citing its source) and `run(config, out_dir) -> dict`."""

from __future__ import annotations

import importlib
from types import ModuleType

EXPERIMENTS: dict[str, str] = {
    "two-step": "experiments.two_step",
    "schedules": "experiments.schedules",
    "sparse-recovery": "experiments.sparse_recovery",
    "slow-sde-validation": "experiments.slow_sde_validation",
    "matrix-factorization": "experiments.matrix_factorization",
    "adam-flow-agreement": "experiments.adam_flow_agreement",
}


def load_experiment(name: str) -> ModuleType:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, got {name!r}")
    return importlib.import_module(EXPERIMENTS[name])
