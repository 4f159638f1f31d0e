"""Small helpers shared by the classroom demos: figure style, saving, the notebooks' size switch.

Figures are built with `matplotlib.figure.Figure` directly (no pyplot state, no GUI backend), so
a demo runs the same from the command line, in a test and in a notebook.
"""

from __future__ import annotations

import os
from pathlib import Path

from matplotlib.figure import Figure

#: Environment variable read by the notebooks: "1" runs the small, fast version (used by tests).
SMALL_ENV = "IBL_DEMO_SMALL"

#: Colours used for the same things in every demo.
COLORS = {
    "sgd": "#1f77b4",
    "adam": "#d62728",
    "gd": "#7f7f7f",
    "l1": "#2ca02c",
    "l2": "#9467bd",
    "truth": "black",
}

STILL_DPI = 90


def small_from_env() -> bool:
    """True when the environment asks for the small version (IBL_DEMO_SMALL=1)."""
    return os.environ.get(SMALL_ENV, "").strip().lower() in ("1", "true", "yes")


def new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1, layout: str | None = "constrained",
               **kwargs):
    """A Figure and its axes (a single Axes when nrows = ncols = 1). Use layout=None for animations
    (a layout engine would re-run at every frame)."""
    fig = Figure(figsize=(width, height), layout=layout)
    axes = fig.subplots(nrows, ncols, **kwargs)
    return fig, axes


def save_still(fig: Figure, path: Path, dpi: int = STILL_DPI) -> Path:
    """Save a still PNG, kept small: modest dpi, then a 256-colour palette (line art loses nothing
    visible and the file shrinks about threefold)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(path, optimize=True)
    return path


def rk4_path(velocity, y0, dt: float, steps_per_log: int, num_logs: int, retract=None):
    """Fixed-step RK4 for dy/dt = velocity(y) (y any pytree; one step is `sde.integrators.rk4_step`),
    optionally followed by `retract(y)` after every step (to stay on Γ). Returns the states at times
    0, dt·steps_per_log, … stacked along a new leading axis (num_logs + 1 entries). Jittable. The
    four RK4 stages run as a `lax.scan`, so `velocity` is traced and compiled once: a fixed-step
    solve compiles fast, which is what a classroom demo needs.
    """
    import jax
    import jax.numpy as jnp

    from implicit_bias_lab.sde.integrators import rk4_step

    tree_map = jax.tree_util.tree_map

    def step(y, _):
        y = rk4_step(velocity, y, dt)
        return (retract(y) if retract is not None else y), None

    def block(y, _):
        y, _ = jax.lax.scan(step, y, None, length=steps_per_log)
        return y, y

    _, path = jax.lax.scan(block, y0, None, length=num_logs)
    return tree_map(lambda a, p: jnp.concatenate([a[None], p]), y0, path)


def write_still_and_summary(fig: Figure, result, out_dir: Path, name: str) -> list[Path]:
    """Save the demo's still as NAME.png and `{"settings": …, **result.summary()}` as
    NAME_summary.json in `out_dir`; return both paths."""
    import json
    from dataclasses import asdict

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    still = save_still(fig, out_dir / f"{name}.png")
    summary = out_dir / f"{name}_summary.json"
    summary.write_text(json.dumps({"settings": asdict(result.settings), **result.summary()}, indent=2))
    return [still, summary]
