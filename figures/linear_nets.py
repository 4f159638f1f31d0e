"""Figures for `experiments.two_step`: test loss along budget lines, the balance window vs width,
and the surrogate gap vs width. Inputs are the row dicts the experiment writes as CSV."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _select(rows, **match):
    return [r for r in rows if all(r[k] == v for k, v in match.items())]


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_lines(rows: list[dict], depth: int, init: str, path: Path) -> Path | None:
    """Test loss vs η₁/lr_max for each budget (colours), one panel per step; GD mean ± s.e. as
    markers, the surrogate closed form (steps 1, 2) or recursion (later steps) as lines."""
    fig = lines_figure(rows, depth, init)
    return None if fig is None else _save(fig, path)


def lines_figure(rows: list[dict], depth: int, init: str):
    """The figure of `plot_lines` (None when no row has this depth and init). The legend names
    every budget drawn in any panel (a budget whose runs all diverged at the last step is still
    listed)."""
    rows = _select(rows, depth=depth, init=init)
    if not rows:
        return None
    steps = sorted({r["step"] for r in rows})
    budgets = sorted({r["budget"] for r in rows})
    fig, axes = plt.subplots(1, len(steps), figsize=(3.6 * len(steps), 3.2), squeeze=False)
    cmap = plt.get_cmap("viridis")
    handles = {}  # budget -> one legend handle, from whichever panel drew it
    for ax, step in zip(axes[0], steps):
        for j, b in enumerate(budgets):
            sel = sorted(_select(rows, step=step, budget=b), key=lambda r: r["eta1"])
            x = np.array([r["eta1"] / b for r in sel])
            y = np.array([r["gd_mean"] for r in sel])
            e = np.array([r["gd_se"] for r in sel])
            th = np.array([r["surrogate"] for r in sel])
            c = cmap(j / max(1, len(budgets) - 1))
            ok = np.isfinite(y) & (y < 1e3)  # diverged runs are left out of the plot
            x, y, e, th = x[ok], y[ok], e[ok], th[ok]
            if not len(x):
                continue
            handles.setdefault(b, ax.errorbar(x, y, yerr=e, fmt="o", ms=3, color=c, label=f"{b:g}"))
            if np.all(np.isfinite(th)):
                ax.plot(x, th, "-", color=c, lw=1, gid="surrogate")
        ax.set_title(f"step {step} (diverged runs omitted)" if step > 2 else f"step {step}")
        ax.set_xlabel(r"$\eta_1/\mathrm{lr}_{\max}$")
        ax.set_yscale("log")
    axes[0][0].set_ylabel("test loss")
    budgets_drawn = [b for b in budgets if b in handles]
    axes[0][-1].legend([handles[b] for b in budgets_drawn], [f"{b:g}" for b in budgets_drawn],
                       title=r"$\mathrm{lr}_{\max}$", fontsize=7)
    fig.suptitle(f"{depth}-layer linear net, {init} init (markers: exact GD; lines: surrogate)")
    fig.tight_layout()
    return fig


def plot_window(windows: list[dict], scaling: list[dict], path: Path, edges: list[dict] | None = None) -> Path:
    """Step-2 balance window edges vs width (theory) with the exact-GD verdicts at s = 2h^α and,
    when given, the window edges located with exact GD (`edges`, diamonds)."""
    return _save(window_figure(windows, scaling, edges), path)


def window_figure(windows: list[dict], scaling: list[dict], edges: list[dict] | None = None):
    """The figure of `plot_window`: per depth one band (the theory window, its two edges as one
    line each), one marker series for the budgets where exact GD's balanced rates win and one
    where they lose, and the exact-GD edges."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, depth in zip(axes, (2, 3)):
        key = f"window_{depth}layer"
        ws = np.array([w["width"] for w in windows if w[key]])
        lo = np.array([w[key][0] for w in windows if w[key]])
        hi = np.array([w[key][1] for w in windows if w[key]])
        ax.fill_between(ws, lo, hi, color="C0", alpha=0.2, label="theory: equal rates win")
        ax.plot(ws, lo, "C0-", gid="window_lower")
        ax.plot(ws, hi, "C0-", gid="window_upper")
        rows = _select(scaling, depth=depth)
        for wins, marker, color, label in ((True, "o", "C2", "exact GD: balanced wins"),
                                           (False, "x", "C3", "exact GD: balanced loses")):
            sel = [r for r in rows if bool(r["gd_balanced_wins"]) == wins]
            if sel:
                ax.plot([r["width"] for r in sel], [r["budget"] for r in sel], marker, color=color, ms=6,
                        linestyle="none", label=label)
        gd = [e for e in (edges or []) if e["depth"] == depth and e["gd_edge"] is not None]
        if gd:
            ax.plot([e["width"] for e in gd], [e["gd_edge"] for e in gd], "D", color="k", ms=4, mfc="none", label="exact-GD edge")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("width h")
        ax.set_ylabel(r"budget $s=\eta_1+\eta_2$")
        ax.set_title(f"{depth}-layer: step-2 balance window")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_gap(gap_rows: list[dict], path: Path) -> Path:
    """|exact GD / closed form − 1| vs width, steps 1 and 2."""
    return _save(gap_figure(gap_rows), path)


def gap_figure(gap_rows: list[dict]):
    """The figure of `plot_gap`: one line per (depth, step) with a finite gap."""
    fig, ax = plt.subplots(figsize=(4.5, 3.4))
    for depth, marker in ((2, "o"), (3, "s")):
        for step, ls in ((1, "-"), (2, "--")):
            sel = sorted(_select(gap_rows, depth=depth, step=step), key=lambda r: r["width"])
            sel = [r for r in sel if np.isfinite(r["relative_gap"])]
            if sel:
                ax.plot([r["width"] for r in sel], [abs(r["relative_gap"]) for r in sel], marker + ls, label=f"{depth}-layer, step {step}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width h")
    ax.set_ylabel("|GD / surrogate − 1|")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_all(line_rows, scaling_rows, gap_rows, windows, out_dir, edges=None) -> list[Path]:
    out = Path(out_dir)
    paths = []
    for depth, init in sorted({(r["depth"], r["init"]) for r in line_rows}):
        p = plot_lines(line_rows, depth, init, out / f"lines_{depth}layer_{init}.png")
        if p:
            paths.append(p)
    paths.append(plot_window(windows, scaling_rows, out / "window_vs_width.png", edges))
    paths.append(plot_gap(gap_rows, out / "surrogate_gap.png"))
    return paths
