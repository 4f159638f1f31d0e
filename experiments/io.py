"""Run directories: atomic writes and the manifest (config, versions, commit, device, wall time)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import jax

PACKAGES = ("implicit-bias-lab", "jax", "jaxlib", "diffrax", "equinox", "optax", "numpy", "scipy", "sympy", "xarray")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a reader sees the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_netcdf(path: Path, dataset) -> Path:
    """An xarray Dataset to netCDF (through scipy: no C library needed), atomically."""
    atomic_write_bytes(Path(path), dataset.to_netcdf(engine="scipy"))
    return Path(path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_manifest(out_dir: Path, config: Any, *, wall_time_s: float, extra: dict | None = None) -> Path:
    """manifest.json: config, package versions, git commit, devices, wall time, command line."""
    manifest = {
        "config": dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "devices": [str(d) for d in jax.devices()],
        "wall_time_s": round(wall_time_s, 3),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
    }
    manifest.update(extra or {})
    path = Path(out_dir) / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=2, default=str))
    return path
