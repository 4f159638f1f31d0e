"""Error of the discrete optimizers against their slow flows, against η (log-log): one panel for
GD/SGD (SGD slow ODE), one for RMSprop/Adam (corrected Adam ODE), fitted slopes in the legend,
error bars of 3 Monte-Carlo s.e., and the tolerance lines Cη of the tests."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
PANELS = (("sgd", "label-noise GD / SGD vs SGD slow ODE"), ("adam", "RMSprop / Adam vs corrected Adam ODE"))


def plot_error_vs_eta(records: list[dict], slopes: dict[str, float], out_dir: Path) -> Path:
    fig = error_vs_eta_figure(records, slopes)
    path = Path(out_dir) / "slow_sde_validation.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def error_vs_eta_figure(records: list[dict], slopes: dict[str, float]):
    """Per case (one colour): the measured relative error with 3 s.e. bars, labelled with its fitted
    slope and its bound Cη; the bound as a dashed line; for Adam cases the error against the
    printed Theorem 5.1 (crosses, dotted)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    cases = list(dict.fromkeys(r["case"] for r in records))
    for ax, (family, title) in zip(axes, PANELS):
        shown = False
        for j, name in enumerate(cases):
            rs = [r for r in records if r["case"] == name]
            if rs[0]["family"] != family:
                continue
            shown = True
            color = COLORS[j % len(COLORS)]
            eta = np.asarray([r["eta"] for r in rs])
            err = np.asarray([r["rel_err"] for r in rs])
            se = np.asarray([r["rel_err_se"] for r in rs])
            ax.errorbar(eta, err, yerr=3 * se, color=color, marker="o", capsize=3,
                        label=f"{name}: slope {slopes[name]:.2f}, bound {rs[0]['C']:g}η")
            if "rel_err_printed" in rs[0]:
                printed = np.asarray([r["rel_err_printed"] for r in rs])
                ax.plot(eta, printed, color=color, marker="x", linestyle=":", label=f"{name} vs printed Thm 5.1")
            ax.plot(eta, rs[0]["C"] * eta, color=color, lw=0.7, linestyle="--", alpha=0.6, gid=f"bound:{name}")
        ax.set(xscale="log", yscale="log", xlabel="learning rate η", ylabel="relative error of the mean displacement",
               title=title)
        if shown:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no cases run", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle("discrete (projected onto Γ) vs slow flow at equal slow time T = η²K; dashed: test bound Cη")
    fig.tight_layout()
    return fig
