"""Success rate and median test loss against n, one curve per (optimizer, method[, swept
hyperparameter value, shaded from dark to light]), with Wilson-score 95 % binomial confidence bands."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

STYLE = {"discrete": "-", "slow": "--", "l1": ":", "lhalf": ":"}
COLOR = {"gd": "tab:gray", "sgd": "tab:blue", "adam": "tab:red", "adame": "tab:purple"}


def wilson_interval(successes: np.ndarray, trials: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (Wilson 1927)."""
    trials = np.maximum(trials, 1)
    p = successes / trials
    denom = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denom
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denom
    return centre - half, centre + half


def plot_sparse_recovery(ds, out_dir: Path, title: str = "") -> list[Path]:
    fig, (ax_rate, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    key = ds.attrs.get("sweep_key")
    swept = ds[key].values if key else np.full(ds.sizes["record"], np.nan)
    values = sorted(set(swept[~np.isnan(swept)])) if key else [np.nan]
    shades = {v: 1.0 - 0.6 * i / max(len(values) - 1, 1) for i, v in enumerate(values)}  # swept value → alpha
    groups = sorted({(str(o), str(m), float(v)) for o, m, v in zip(ds.optimizer.values, ds.method.values, swept)})
    for opt, meth, value in groups:
        sel = (ds.optimizer.values == opt) & (ds.method.values == meth)
        if key:
            sel &= swept == value
        ns = np.unique(ds.n.values[sel])
        succ = np.array([ds.recovered.values[sel][ds.n.values[sel] == n].sum() for n in ns], float)
        tot = np.array([(ds.n.values[sel] == n).sum() for n in ns], float)
        med = np.array([np.median(ds.test_loss.values[sel][ds.n.values[sel] == n]) for n in ns])
        lo, hi = wilson_interval(succ, tot)
        label = f"{opt} ({meth})" + (f" {key}={value:g}" if key else "")
        kw = dict(color=COLOR.get(opt, "k"), linestyle=STYLE.get(meth, "-"), marker="o" if meth == "discrete" else None,
                  alpha=shades.get(value, 1.0) if key else 1.0)
        ax_rate.plot(ns, succ / tot, label=label, **kw)
        ax_rate.fill_between(ns, lo, hi, color=COLOR.get(opt, "k"), alpha=0.12 if not key else 0.05)
        ax_loss.plot(ns, med, label=label, **kw)
    ax_rate.set(xlabel="n (training samples)", ylabel="success rate", ylim=(-0.03, 1.03), title="recovered (test loss < threshold)")
    ax_loss.set(xlabel="n (training samples)", ylabel="median test loss ½‖w − w*‖²", yscale="log", title="median test loss")
    ax_loss.axhline(float(ds.attrs.get("recovery_threshold", np.nan)), color="k", lw=0.6, alpha=0.5)
    ax_rate.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    fig.tight_layout()
    paths = []
    for ext in ("png", "pdf"):
        path = Path(out_dir) / f"sparse_recovery.{ext}"
        fig.savefig(path, dpi=120)
        paths.append(path)
    plt.close(fig)
    return paths
