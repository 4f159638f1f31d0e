"""Figure for `experiments.matrix_factorization`: tr H, tr Diag(H)^½ and the test error ‖P − M*‖_F²
against slow time t = η²k, one row per depth; label-noise SGD and Adam in two colours, the discrete
runs as mean ± 2 s.e. bands (thin lines: single seeds), the slow flows as dashed lines with markers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

COLORS = {"sgd": "tab:blue", "adam": "tab:red"}
LABELS = {"sgd": "label-noise SGD", "adam": "label-noise Adam"}
PANELS = (
    ("trace_hessian", r"tr $H$ (SGD's regularizer)"),
    ("trace_sqrt_diag_hessian", r"tr Diag$(H)^{1/2}$ (Adam's regularizer)"),
    ("test_error", r"test error $\|P-M^*\|_F^2$"),
)


YLABELS = {"trace_hessian": r"tr $H$", "trace_sqrt_diag_hessian": r"tr Diag$(H)^{1/2}$",
           "test_error": r"$\|P-M^*\|_F^2$"}


def plot_sharpness_vs_slow_time(config, results: dict, out_dir: Path) -> Path:
    fig = sharpness_figure(config, results)
    path = Path(out_dir) / "matrix_factorization.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def sharpness_figure(config, results: dict):
    """The figure of `plot_sharpness_vs_slow_time`: per panel, per optimizer one band and one mean
    line (discrete) and one dashed line (slow flow), thin unlabelled lines for single seeds."""
    depths = list(results)
    times = config.slow_time * np.arange(config.num_logs + 1) / config.num_logs
    fig, axes = plt.subplots(len(depths), 3, figsize=(13, 3.6 * len(depths)), squeeze=False)
    for row, depth in zip(axes, depths):
        rec = results[depth]
        for ax, (metric, title) in zip(row, PANELS):
            for name in ("sgd", "adam"):
                x = np.asarray(rec["discrete"][name][metric])
                mean, se = x.mean(0), x.std(0, ddof=1) / np.sqrt(x.shape[0])
                for curve in x:
                    ax.plot(times, curve, color=COLORS[name], lw=0.5, alpha=0.25)
                ax.fill_between(times, mean - 2 * se, mean + 2 * se, color=COLORS[name], alpha=0.25)
                ax.plot(times, mean, color=COLORS[name], lw=1.8, label=f"{LABELS[name]}, discrete (mean ± 2 s.e.)")
                ax.plot(times, rec["slow"][name][metric], color=COLORS[name], ls="--", marker="o", ms=3,
                        label=f"{LABELS[name]}, slow flow")
            if metric == "test_error":
                ax.set_yscale("symlog", linthresh=1e-4)
            ax.set_title(f"depth {depth}: {title}", fontsize=9)
            ax.set_xlabel(r"slow time $t=\eta^2k$")
            ax.set_ylabel(YLABELS[metric])
        row[0].legend(fontsize=7)
    fig.suptitle(
        f"Deep matrix factorization (Li–Wen–Lyu §6): rank-{config.rank} {config.size}×{config.size} M*, n = {config.n}, "
        f"Gaussian label noise δ = {config.label_noise:g} (c = {config.noise_constant:.3g}); Adam ε = {config.adam_eps:g}, "
        f"{config.adam_flow} flow; measured at the projection onto Γ",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
