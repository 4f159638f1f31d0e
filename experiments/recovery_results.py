"""The sparse-recovery results layout: a grid with real coordinates, stored as `results.nc`.

Format 2 (this one): every measured field is an array over the dimensions
(optimizer, route[, swept key], n, seed), so that xarray selects by label::

    ds = load_results("runs/sparse-recovery-default/results.nc")   # or xr.open_dataset(...)
    ds.recovered.sel(optimizer="adam", route="discrete").mean("seed")   # success rate per n
    ds.test_loss.sel(optimizer="adam", n=40)                           # (route, seed)

The route is the config's `methods` entry (discrete, slow, slow_qs, l1, lhalf); the dimension is not
called `method` because `Dataset.sel(method=...)` is xarray's inexact-match option. A (optimizer,
route) pair the sweep did not run (l1 is recorded under sgd only, say) holds NaN and
status "absent". Variables carry CF `long_name`/`units` attributes; the dataset carries
`Conventions`, `results_format` and the experiment's settings (recovery threshold, protocol).

Format 1 (before 2026-12) was a flat table over a `record` dimension; `load_results` converts it.
A file of a newer format than this code knows is rejected with a one-line message.
`as_records` gives the flat view (one entry per run) that figures and per-run tables use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

RESULTS_FORMAT = 2
ABSENT = "absent"
BASE_DIMS = ("optimizer", "route", "n", "seed")
ATTRS = {
    "optimizer": dict(long_name="optimizer"),
    "route": dict(long_name="route: the discrete optimizer, its slow flow, or the limit's program (l1, lhalf)"),
    "n": dict(long_name="number of samples", units="1"),
    "seed": dict(long_name="instance seed (data and truth draw)", units="1"),
    "test_loss": dict(long_name="population test loss ½‖w − w*‖²", units="1"),
    "w_error": dict(long_name="‖w − w*‖₂", units="1"),
    "trace_hessian": dict(long_name="tr H at the end point", units="1"),
    "trace_sqrt_diag_hessian": dict(long_name="tr Diag(H)^½ at the end point", units="1"),
    "train_loss": dict(long_name="training loss at the end point", units="1"),
    "steps": dict(long_name="optimizer steps (0 for flows and programs)", units="1"),
    "status": dict(long_name="run status (ok, diverged, nonfinite, not_converged, failed, stiff; absent: not run)"),
    "recovered": dict(long_name="1 if recovered (see recovery_measure), 0 if not, NaN where not run", units="1"),
}


class ResultsFormatError(ValueError):
    """A results file this code cannot read (unknown or newer format)."""


def dims_of(ds) -> tuple[str, ...]:
    """The grid's dimensions, with the swept key (if any) after the route."""
    key = ds.attrs.get("sweep_key") or None
    return ("optimizer", "route", key, "n", "seed") if key else BASE_DIMS


def grid_from_records(flat, optimizers=None, methods=None):
    """Format 1 (flat over `record`, with a `method` variable) → format 2 (grid over `route`).
    `optimizers`/`methods` fix the label order (default: order of first appearance)."""
    flat = flat.rename({"method": "route"})
    dims = dims_of(flat)
    # labels in the given order, then any others in order of first appearance
    order = {k: list(dict.fromkeys([*(given or []), *flat[k].values.tolist()])) for k, given in (("optimizer", optimizers), ("route", methods))}
    grid = flat.set_index(record=list(dims)).unstack("record")
    grid = grid.reindex({k: [v for v in order[k] if v in grid[k].values] for k in order})
    if "status" in grid:
        grid["status"] = grid.status.where(grid.status.notnull(), ABSENT).astype(str)
    for name in ("recovered", "steps"):
        if name in grid:
            grid[name] = grid[name].astype(np.float64)
    for name, attrs in ATTRS.items():
        if name in grid.variables:
            grid[name].attrs.update(attrs)
    key = flat.attrs.get("sweep_key")
    if key:
        grid[key].attrs.update(long_name=f"swept hyperparameter {key}")
    grid.attrs.update(flat.attrs, Conventions="CF-1.10", results_format=RESULTS_FORMAT)
    return grid


def as_records(ds):
    """The flat view: one entry per run that was made, over a `record` dimension, with the grid's
    coordinates as plain variables and the route named `method` (format 1's layout). A flat
    dataset is returned as it is."""
    if "record" in ds.dims:
        return ds
    flat = ds.stack(record=list(dims_of(ds)))
    ran = np.flatnonzero(np.asarray(flat.status.values, dtype=str) != ABSENT)
    flat = flat.isel(record=ran).reset_index("record")
    for name in dims_of(ds):  # the MultiIndex levels become plain per-record variables
        flat = flat.reset_coords(name) if name in flat.coords else flat
    for name, dtype in (("recovered", np.int8), ("steps", np.int64), ("n", np.int64), ("seed", np.int64),
                        ("optimizer", str), ("route", str), ("status", str)):
        if name in flat:
            flat[name] = flat[name].astype(dtype)
    return flat.rename({"route": "method"})


def load_results(path: str | Path):
    """Read a sparse-recovery `results.nc` as a format-2 grid (format 1 converted); a file of an
    unknown or newer format raises ResultsFormatError naming the file and the formats known."""
    import xarray as xr

    path = Path(path)
    try:
        ds = xr.load_dataset(path, engine="scipy")
    except Exception as err:  # noqa: BLE001 — any unreadable file gets the same one-line message
        raise ResultsFormatError(f"{path}: not a readable results file ({type(err).__name__}: {err})") from None
    version = int(ds.attrs.get("results_format", 1))
    if version > RESULTS_FORMAT:
        raise ResultsFormatError(f"{path}: results format {version} was written by a newer implicit-bias-lab; "
                                 f"this version reads formats 1–{RESULTS_FORMAT} (upgrade the lab)")
    if version == 1:
        if "record" not in ds.dims or not all(k in ds for k in ("optimizer", "method", "n", "seed")):
            raise ResultsFormatError(f"{path}: not a sparse-recovery results file (no record table with optimizer, method, n, seed)")
        ds = grid_from_records(ds)
    return ds
