"""Experiments by name. Each entry is a module with `DESCRIPTION`, a frozen dataclass `Config`,
`PRESETS` (name → settings, each citing its source) and `run(config, out_dir) -> dict`."""

from __future__ import annotations

import importlib
from types import ModuleType

EXPERIMENTS: dict[str, str] = {
    "two-step": "implicit_bias_lab.experiments.two_step",
    "schedules": "implicit_bias_lab.experiments.schedules",
    "sparse-recovery": "implicit_bias_lab.experiments.sparse_recovery",
    "slow-sde-validation": "implicit_bias_lab.experiments.slow_sde_validation",
    "matrix-factorization": "implicit_bias_lab.experiments.matrix_factorization",
    "adam-flow-agreement": "implicit_bias_lab.experiments.adam_flow_agreement",
}


def load_experiment(name: str) -> ModuleType:
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, got {name!r}")
    return importlib.import_module(EXPERIMENTS[name])
