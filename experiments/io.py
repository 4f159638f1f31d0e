"""Run directories: atomic writes and the manifest (config, versions, commit, device, wall time).

`write_start_manifest` records a run as "running" before it starts (preset, commit, dirty tree);
`write_manifest` at its end records it "complete", keeping what the start recorded.
"""

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


def git_dirty() -> bool | None:
    """Whether the source tree differs from its commit (tracked changes or untracked files that
    git does not ignore); None where that cannot be told (no git, not a checkout)."""
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.strip())


def config_record(config: Any) -> Any:
    """A config as the manifest stores it (a dataclass as a dict, tuples as lists): compare two
    configs by their records."""
    data = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config
    return json.loads(json.dumps(data, default=str))


def read_manifest(out_dir: Path) -> dict | None:
    """out_dir/manifest.json, or None if there is none; a ValueError if it is not readable JSON."""
    path = Path(out_dir) / "manifest.json"
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"cannot read {path}: not a JSON object")
    return data


# what the start manifest records that the final write keeps (the state the run started from)
_KEPT_FROM_START = ("experiment", "preset", "started_utc", "git_commit", "git_dirty")


def write_start_manifest(out_dir: Path, config: Any, *, experiment: str | None = None, preset: str | None = None,
                         command: list[str] | None = None, extra: dict | None = None) -> Path:
    """manifest.json with status "running", written before a run starts: config, preset, git commit
    and whether the tree is dirty, package versions, devices, start time, command line.
    `write_manifest` at the end keeps the start fields and sets status "complete"."""
    manifest = {
        "status": "running",
        "experiment": experiment,
        "preset": preset,
        "config": config_record(config),
        "git_commit": git_commit(),
        "git_dirty": git_dirty(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "devices": [str(d) for d in jax.devices()],
        "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": list(command) if command is not None else sys.argv,
    }
    manifest.update(extra or {})
    path = Path(out_dir) / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=2, default=str))
    return path


def write_manifest(out_dir: Path, config: Any, *, wall_time_s: float, extra: dict | None = None) -> Path:
    """manifest.json at the end of a run, status "complete": config, package versions, git commit,
    devices, wall time, command line; the start manifest's experiment, preset, start time, commit
    and dirty flag are kept when it recorded the same config."""
    record = config_record(config)
    manifest = {
        "status": "complete",
        "config": record,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "devices": [str(d) for d in jax.devices()],
        "wall_time_s": round(wall_time_s, 3),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
    }
    try:
        start = read_manifest(out_dir)
    except ValueError:
        start = None
    if start and start.get("status") == "running" and start.get("config") == record:
        manifest.update({k: start[k] for k in _KEPT_FROM_START if k in start})
        if "command" in start:
            manifest["command"] = start["command"]
    manifest.update(extra or {})
    path = Path(out_dir) / "manifest.json"
    atomic_write_text(path, json.dumps(manifest, indent=2, default=str))
    return path
