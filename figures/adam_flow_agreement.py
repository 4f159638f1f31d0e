"""Discrete Adam against its two slow flows (v as a state, quasi-static v) as η falls: the share of
agreeing recovery decisions and the median end-point distance, one line per flow."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

# Okabe–Ito (colour-blind safe)
STYLE = {
    "state": dict(color="#D55E00", marker="o", linestyle="-", label="v as a state (c₂ finite)"),
    "quasi_static": dict(color="#0072B2", marker="s", linestyle="--", label="quasi-static v (c₂ → ∞)"),
}


def adam_flow_agreement_figure(result: dict, title: str = ""):
    etas = np.asarray(result["etas"], float)
    fig, (ax_share, ax_dist) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for flow, values in result["flows"].items():
        style = STYLE.get(flow, dict(label=flow))
        ax_share.plot(etas, values["agreement"], **style)
        ax_dist.plot(etas, values["median_distance"], **style)
    ax_share.axhline(0.9, color="0.4", lw=0.8, ls=":", label="0.9", gid="reference:0.9")
    ax_share.set(xscale="log", xlabel="Adam learning rate η", ylabel="share of agreeing recovery decisions",
                 ylim=(min(0.5, ax_share.get_ylim()[0]), 1.02), title="discrete vs flow: same decision")
    ax_dist.set(xscale="log", yscale="log", xlabel="Adam learning rate η", ylabel="median ‖w_discrete − w_flow‖",
                title="end-point distance")
    # a slope-1 guide through the state flow's smallest-η point
    if "state" in result["flows"]:
        d = np.asarray(result["flows"]["state"]["median_distance"], float)
        i = int(np.argmin(etas))
        if d[i] > 0:
            ax_dist.plot(etas, d[i] * etas / etas[i], color="0.6", lw=0.8, ls=":", label="∝ η", gid="reference:slope 1")
    for ax in (ax_share, ax_dist):
        ax.invert_xaxis()
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}\n{result['instances']} instances per η; discrete Adam over the same slow time as the flows" if title else "")
    fig.tight_layout()
    return fig


def plot_adam_flow_agreement(result: dict, out_dir: Path, title: str = "") -> list[Path]:
    fig = adam_flow_agreement_figure(result, title)
    paths = []
    for ext in ("png", "pdf"):
        path = Path(out_dir) / f"adam_flow_agreement.{ext}"
        fig.savefig(path, dpi=120)
        paths.append(path)
    plt.close(fig)
    return paths
