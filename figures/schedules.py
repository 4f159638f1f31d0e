"""Figures for `experiments.schedules`: schedules, exact expected loss vs Monte Carlo and the OU
limit, and the multi-power-law fit with its held-out predictions."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def curves_figure(curves: dict, times: np.ndarray):
    """One colour per schedule (named in the left panel's legend): its learning rate (left), and
    (right) its exact expected loss (—), OU/SDE limit (···) and, where run, Monte Carlo (•)."""
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (name, c) in enumerate(curves.items()):
        col = f"C{i}"
        a0.plot(np.arange(1, len(c["etas"]) + 1), c["etas"], color=col, label=name)
        a1.plot(np.arange(len(c["exact"])), c["exact"], color=col, lw=1.2, gid=f"exact:{name}")
        a1.plot(np.arange(len(c["ou"])), c["ou"], ":", color=col, lw=1, gid=f"ou:{name}")
        if np.all(np.isfinite(c["mc_mean"])):
            a1.errorbar(times, c["mc_mean"], yerr=2 * c["mc_se"], fmt="o", ms=2, color=col, alpha=0.6)
    a0.set_xlabel("step")
    a0.set_ylabel("learning rate")
    a0.legend(fontsize=7)
    a1.set_xlabel("step")
    a1.set_ylabel("expected loss")
    a1.set_yscale("log")
    a1.set_title("exact recursion (—), OU/SDE (···), Monte Carlo (•, ±2 s.e.)", fontsize=8)
    fig.tight_layout()
    return fig


def plot_curves(curves: dict, times: np.ndarray, path: Path) -> Path:
    return _save(curves_figure(curves, times), path)


def mpl_figure(curves: dict, mpl: dict, fit_schedules, loss_floor: float):
    """One panel per fitted law: L − L* of every schedule (solid, fit or held out) and the law's
    prediction (dashed, same colour)."""
    fig, axes = plt.subplots(1, len(mpl), figsize=(5 * len(mpl), 3.8), squeeze=False)
    for ax, (label, res) in zip(axes[0], mpl.items()):
        law = res["law"]
        for i, (name, c) in enumerate(curves.items()):
            T = len(c["etas"])
            t = np.unique(np.geomspace(1, T, 80).astype(int))
            ax.plot(t, c["exact"][t] - loss_floor, color=f"C{i}", lw=1.5, label=name + (" (fit)" if name in fit_schedules else " (held out)"))
            ax.plot(t, law.loss(c["etas"], t) - loss_floor, "--", color=f"C{i}", lw=1, gid=f"law:{name}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(r"$L - L_*$")
        ax.set_title(f"multi-power law, {label} (dashed)", fontsize=9)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def plot_mpl(curves: dict, mpl: dict, fit_schedules, loss_floor: float, path: Path) -> Path:
    return _save(mpl_figure(curves, mpl, fit_schedules, loss_floor), path)


def plot_all(curves, times, mpl, cfg, out_dir) -> list[Path]:
    out = Path(out_dir)
    return [plot_curves(curves, times, out / "schedules_loss.png"), plot_mpl(curves, mpl, cfg.fit_schedules, cfg.loss_floor, out / "multi_power_law.png")]
