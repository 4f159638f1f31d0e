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


def new_figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **kwargs):
    """A Figure and its axes (a single Axes when nrows = ncols = 1)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, **kwargs)
    return fig, axes


def save_still(fig: Figure, path: Path, dpi: int = STILL_DPI) -> Path:
    """Save a still PNG (small: modest dpi, no transparency)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def rk4_path(velocity, y0, dt: float, steps_per_log: int, num_logs: int, retract=None):
    """Fixed-step RK4 for dy/dt = velocity(y) (y any pytree), optionally followed by `retract(y)`
    after every step (to stay on Γ). Returns the states at times 0, dt·steps_per_log, … stacked
    along a new leading axis (num_logs + 1 entries). Jittable; compiles fast, unlike an adaptive
    solve, which is what a classroom demo needs.
    """
    import jax

    def shift(y, k, h):
        return jax.tree_util.tree_map(lambda a, b: a + h * b, y, k)

    def step(y, _):
        k1 = velocity(y)
        k2 = velocity(shift(y, k1, dt / 2))
        k3 = velocity(shift(y, k2, dt / 2))
        k4 = velocity(shift(y, k3, dt))
        y = jax.tree_util.tree_map(lambda a, b, c, d, e: a + dt / 6 * (b + 2 * c + 2 * d + e), y, k1, k2, k3, k4)
        return (retract(y) if retract is not None else y), None

    def block(y, _):
        y, _ = jax.lax.scan(step, y, None, length=steps_per_log)
        return y, y

    _, path = jax.lax.scan(block, y0, None, length=num_logs)
    return jax.tree_util.tree_map(lambda a, p: jax.numpy.concatenate([a[None], p]), y0, path)
