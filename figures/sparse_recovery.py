"""Sparse-recovery sample complexity as small multiples.

One column per optimizer in the dataset; top row: success rate against n with a Wilson-score 95 %
binomial band per curve; bottom row: median test loss ½‖w − w*‖² (log scale, clipped below at
threshold·1e-3, the recovery threshold drawn as a labelled line). Within a column one curve per
method of that optimizer (and per swept value, shaded dark → light, when the dataset is a
hyperparameter sweep); the limit programs (weighted-ℓ1 LP, the SGD limit; local weighted-ℓ½, the
Adam limit) appear as the same thin reference curves in every column. Colours are Okabe–Ito
(colour-blind safe) and every method also has its own line style and marker.

`sparse_recovery_figure` builds the figure from the dataset of `experiments.sparse_recovery.
to_dataset` (a flat table over `record`); `plot_sparse_recovery` writes it as PNG and PDF.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.transforms import blended_transform_factory

from implicit_bias_lab.experiments.recovery_results import as_records

# Okabe & Ito (2008), "Color Universal Design"
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}


@dataclass(frozen=True)
class Style:
    label: str
    color: str
    linestyle: object
    marker: str
    linewidth: float = 1.8
    markersize: float = 5.0


# methods of an optimizer, drawn in that optimizer's column
METHOD_STYLE = {
    # (markers of decreasing size, so coinciding points of several methods all stay visible)
    "discrete": Style("discrete optimizer", OKABE_ITO["blue"], "-", "o", markersize=7.0),
    "slow": Style("slow flow (for GD: landing point)", OKABE_ITO["vermillion"], "--", "s", markersize=4.5),
    "slow_qs": Style("quasi-static flow (c₂ → ∞)", OKABE_ITO["green"], "-.", "^", markersize=4.5),
}
# limit programs, drawn as thin reference curves in every column
REFERENCE_STYLE = {
    "l1": Style("ℓ1 LP (SGD limit)", OKABE_ITO["black"], (0, (1, 1.5)), "x", 1.1, 4.5),
    "lhalf": Style("local ℓ½ (Adam limit)", "#7F7F7F", (0, (5, 1.5, 1, 1.5)), "+", 1.1, 5.5),
}
# methods nobody told us about still get a distinct look
_FALLBACK = [
    (OKABE_ITO["purple"], (0, (3, 1, 1, 1, 1, 1)), "D"),
    (OKABE_ITO["orange"], (0, (6, 2)), "v"),
    (OKABE_ITO["sky_blue"], (0, (2, 2)), "P"),
]
OPTIMIZER_TITLE = {"gd": "GD (no noise)", "sgd": "label-noise SGD", "adam": "Adam", "adame": "AdamE-λ", "adam_mini": "Adam-mini (blocks {u_i, v_i})",
                   "adalayer": "Adalayer (blocks: all u, all v)"}
OPTIMIZER_ORDER = ("gd", "sgd", "adam", "adame", "adam_mini", "adalayer")
FLOOR_FACTOR = 1e-3  # loss axis floor = recovery threshold × this


def wilson_interval(successes: np.ndarray, trials: np.ndarray, z: float = 1.96) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (Wilson 1927)."""
    trials = np.maximum(trials, 1)
    p = successes / trials
    denom = 1 + z**2 / trials
    centre = (p + z**2 / (2 * trials)) / denom
    half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denom
    return centre - half, centre + half


def _ordered(names, order) -> list[str]:
    names = set(names)
    return [x for x in order if x in names] + sorted(names - set(order))


def _method_style(method: str, unknown: list[str]) -> Style:
    if method in METHOD_STYLE:
        return METHOD_STYLE[method]
    if method in REFERENCE_STYLE:
        return REFERENCE_STYLE[method]
    color, ls, marker = _FALLBACK[unknown.index(method) % len(_FALLBACK)]
    return Style(method, color, ls, marker)


def _shade(color: str, i: int, count: int):
    """The i-th of `count` shades of `color`, from darker (i = 0) to lighter."""
    rgb = np.asarray(to_rgb(color))
    if count <= 1:
        return tuple(rgb)
    t = i / (count - 1)  # 0 … 1
    dark, light = 0.65 * rgb, rgb + 0.6 * (1 - rgb)
    return tuple((1 - t) * dark + t * light)


ANY = "any"  # the swept value of a curve that is the same for every value


def _same(a: tuple, b: tuple) -> bool:
    return all(np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b)) and len(a[0]) == len(b[0])


def _spaced_labels(ns, min_gap: float = 0.07) -> list[str]:
    """Tick labels for the n grid: every n gets a tick, but a label only where it is at least
    `min_gap` of the axis span from the last labelled one (the last n always labelled), so dense
    grids such as 300, 350, …, 500 of 200–1000 do not print on top of each other."""
    ns = [float(n) for n in ns]
    span = (max(ns) - min(ns)) or 1.0
    shown = []
    for i, n in enumerate(ns):
        if not shown or n - ns[shown[-1]] >= min_gap * span:
            shown.append(i)
    if shown[-1] != len(ns) - 1:
        if len(shown) > 1 and ns[-1] - ns[shown[-1]] < min_gap * span:
            shown.pop()
        shown.append(len(ns) - 1)
    return [f"{n:g}" if i in shown else "" for i, n in enumerate(ns)]


def _fmt(x: float) -> str:
    return f"{x:g}"


def _seeds_text(counts: list[int]) -> str:
    if not counts:
        return "no runs"
    lo, hi = min(counts), max(counts)
    if lo == hi:
        return f"{lo} seed{'s' if lo != 1 else ''} per point"
    return f"{lo}–{hi} seeds per point"


def sparse_recovery_figure(ds, title: str = ""):
    """The figure (a `matplotlib.figure.Figure`, not saved) for a sparse-recovery dataset (the
    results grid of experiments/recovery_results.py, or its flat per-run view)."""
    ds = as_records(ds)
    optimizer = np.asarray(ds.optimizer.values, dtype=str)
    method = np.asarray(ds.method.values, dtype=str)
    n = np.asarray(ds.n.values)
    loss = np.asarray(ds.test_loss.values, np.float64)
    recovered = np.asarray(ds.recovered.values, np.float64)
    threshold = float(ds.attrs.get("recovery_threshold", np.nan))
    key = ds.attrs.get("sweep_key") or None
    if key is not None and key not in ds:
        key = None
    swept = np.asarray(ds[key].values, np.float64) if key else np.zeros(len(n))
    values = sorted(set(swept[~np.isnan(swept)].tolist())) if key else [None]
    if key and np.isnan(swept).any():
        values.append(np.nan)

    is_ref = np.isin(method, list(REFERENCE_STYLE))
    columns = _ordered(optimizer[~is_ref], OPTIMIZER_ORDER) or [None]  # None: only reference programs
    references = _ordered(method[is_ref], list(REFERENCE_STYLE))
    unknown = sorted(set(method[~is_ref]) - set(METHOD_STYLE))
    ns = np.unique(n)
    single_n = len(ns) == 1

    def select(opt, meth, value):
        sel = method == meth
        if opt is not None:
            sel &= optimizer == opt
        if key:
            sel &= np.isnan(swept) if (value is not None and np.isnan(value)) else swept == value
        return sel

    def label(meth, value):
        text = _method_style(meth, unknown).label
        if not key:
            return text
        return f"{text}, any {key}" if value is ANY else f"{text}, {key}={_fmt(value)}"

    def line_kw(meth, value):
        st = _method_style(meth, unknown)
        color = _shade(st.color, 0, 1) if value is ANY else _shade(st.color, values.index(value), len(values))
        return dict(color=color, linestyle=st.linestyle, marker=st.marker, linewidth=st.linewidth, markersize=st.markersize)

    # every curve: (column, method, value) -> (n, successes, trials, median loss)
    curves: dict[tuple, tuple] = {}
    seeds_per_point: list[int] = []
    for col in columns:
        own = _ordered(method[(optimizer == col) & ~is_ref], tuple(METHOD_STYLE)) if col is not None else []
        for meth in own + references:
            found = {}
            for value in values:
                sel = select(col if meth in own else None, meth, value)
                if not sel.any():
                    continue
                xs = np.unique(n[sel])
                succ, tot, med = [], [], []
                for x in xs:
                    at = sel & (n == x)
                    succ.append(recovered[at].sum())
                    tot.append(at.sum())
                    # a run without a finite loss (diverged, failed) counts as an arbitrarily bad one
                    med.append(np.median(np.where(np.isnan(loss[at]), np.inf, loss[at])))
                found[value] = (xs, np.asarray(succ, float), np.asarray(tot, float), np.asarray(med))
            # a curve the swept value does not change (l1 under an Adam sweep, say) is drawn once
            if len(values) > 1 and len(found) == len(values) and all(_same(c, found[values[0]]) for c in found.values()):
                found = {ANY: found[values[0]]}
            for value, curve in found.items():
                curves[(col, meth, value)] = curve
                if meth in own or col == columns[0]:
                    seeds_per_point.extend(int(t) for t in curve[2])

    # loss axis: from threshold·1e-3 (everything below drawn at that floor) to above the data
    meds = np.concatenate([c[3] for c in curves.values()]) if curves else np.array([])
    finite = meds[np.isfinite(meds)]
    if not np.isfinite(threshold) or threshold <= 0:
        threshold_ok = False
        positive = finite[finite > 0]
        floor = float(positive.min()) if positive.size else 1e-6
    else:
        threshold_ok = True
        floor = threshold * FLOOR_FACTOR
    top = max(float(finite.max()) if finite.size else 1.0, threshold if threshold_ok else 0.0, floor * 10)
    ceiling = top * 2.0
    y_low, y_high = floor / 4.0, ceiling * 1.5

    n_lines = {col: sum(c == col for c, _, _ in curves) for col in columns}
    ncols = len(columns)
    width = max(3.4 * ncols + 1.2, 6.5)
    fig, axes = plt.subplots(2, ncols, figsize=(width, 6.4), sharex=True, sharey="row",
                             squeeze=False, layout="constrained")
    handles: dict[str, object] = {}
    for j, col in enumerate(columns):
        ax_rate, ax_loss = axes[0, j], axes[1, j]
        ax_rate.set_gid(f"success:{col}")
        ax_loss.set_gid(f"loss:{col}")
        clipped_low = clipped_high = False
        for (c, meth, value), (xs, succ, tot, med) in curves.items():
            if c != col:
                continue
            kw = line_kw(meth, value)
            lab = label(meth, value)
            ref = meth in REFERENCE_STYLE
            lo, hi = wilson_interval(succ, tot)
            (line,) = ax_rate.plot(xs, succ / tot, label=lab, zorder=2 if ref else 3, **kw)
            bx = xs if not single_n else np.array([xs[0] - 0.04 * xs[0], xs[0] + 0.04 * xs[0]])
            blo, bhi = (lo, hi) if not single_n else (np.repeat(lo, 2), np.repeat(hi, 2))
            alpha = (0.3 if ref else 1.0) * min(0.16, 0.5 / n_lines[col])  # overlapping bands stay see-through
            ax_rate.fill_between(bx, blo, bhi, color=kw["color"], alpha=alpha, linewidth=0, zorder=1)
            clipped_low |= bool((med < floor).any())
            clipped_high |= bool((med > ceiling).any())
            ax_loss.plot(xs, np.clip(med, floor, ceiling), label=lab, zorder=2 if ref else 3, **kw)
            handles.setdefault(lab, line)

        ax_rate.set_title(OPTIMIZER_TITLE.get(col, col) if col is not None else "reference programs", fontsize=11)
        ax_rate.set_ylim(-0.04, 1.04)
        ax_rate.grid(True, alpha=0.25, linewidth=0.6)
        ax_loss.set_yscale("log")
        ax_loss.set_ylim(y_low, y_high)
        ax_loss.grid(True, which="major", alpha=0.25, linewidth=0.6)
        ax_loss.set_xlabel("n (training samples)")
        ymix = blended_transform_factory(ax_loss.transAxes, ax_loss.transData)
        if threshold_ok:
            ax_loss.axhline(threshold, color="0.35", linewidth=0.9, zorder=1.5, gid="threshold",
                            label=f"_threshold {_fmt(threshold)}")
            ax_loss.text(0.98, threshold * 1.25, f"threshold {_fmt(threshold)}", transform=ymix,
                         ha="right", va="bottom", fontsize=8, color="0.25")
        # the clipped strip: medians below the floor are drawn on its upper edge
        ax_loss.axhspan(y_low, floor, color="0.92", zorder=0, linewidth=0)
        if clipped_low:
            ax_loss.text(0.02, floor / 2.0, f"medians below {_fmt(floor)} drawn at {_fmt(floor)}", transform=ymix,
                         ha="left", va="center", fontsize=7, color="0.3")
        if clipped_high:
            ax_loss.text(0.02, ceiling, f"medians above {_fmt(ceiling)} drawn at the top", transform=ymix,
                         ha="left", va="bottom", fontsize=7, color="0.3")
    axes[0, 0].set_ylabel("success rate")
    axes[1, 0].set_ylabel("median test loss ½‖w − w*‖²")
    for ax in axes.flat:
        if len(ns) <= 12:
            ax.set_xticks(ns, _spaced_labels(ns))
        else:
            ax.set_xticks(ax.get_xticks())
        if single_n:
            ax.set_xlim(ns[0] * 0.85, ns[0] * 1.15)

    entry = 0.06 * max((len(h) for h in handles), default=1) + 0.6  # inches per legend column at fontsize 8.5
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncol=max(1, min(len(handles), int(width // entry))), fontsize=8.5, frameon=False)
    measure = ds.attrs.get("recovery_measure") or (f"test loss < {_fmt(threshold)}" if threshold_ok else "")
    details = [_seeds_text(seeds_per_point), f"recovered: {measure}" if measure else "", "bands: Wilson 95 %"]
    # the protocol on a line of its own, so a long one is never cut at the figure's edge
    lines = [title.strip(), ds.attrs.get("protocol", ""), " · ".join(d for d in details if d)]
    # wrap at the figure's width (≈ 12 characters per inch at this font size) so nothing is cut
    wrapped = [textwrap.fill(x, width=int(12 * width)) for x in lines if x]
    fig.suptitle("\n".join(wrapped), fontsize=10.5)
    return fig


def plot_sparse_recovery(ds, out_dir: Path, title: str = "") -> list[Path]:
    """Write `sparse_recovery.png` (dpi 120) and `sparse_recovery.pdf` to `out_dir`."""
    fig = sparse_recovery_figure(ds, title=title)
    paths = []
    try:
        for ext in ("png", "pdf"):
            path = Path(out_dir) / f"sparse_recovery.{ext}"
            fig.savefig(path, dpi=120)
            paths.append(path)
    finally:
        plt.close(fig)
    return paths
