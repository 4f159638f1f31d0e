"""Assertions on what a figure shows, read from its matplotlib objects (issue 13 §1).

Shared by tests/test_figures_experiments.py and tests/test_figures_demos.py. A figure is checked
for what its reader is promised: every panel labelled, one legend entry per labelled artist and
one labelled artist per group (no group drawn twice, as the NaN grouping of the sparse-recovery
figure once did), legend entries non-empty and unique, log axes fed positive data, reference lines
(thresholds, closed forms, slope guides) drawn where they belong and labelled with their values.

Conventions the figure modules follow so that tests can find things: reference lines carry a
`gid` (`reference:…`, `bound:CASE`, …); curves that belong in the legend carry a label, helper
artists (single seeds, guides explained in a title) an underscore label (matplotlib's default).
"""

from __future__ import annotations

from collections import Counter

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402


# ----------------------------------------------------------------------------- finding artists


def labelled(ax) -> list[str]:
    """Labels of the artists of `ax` that a legend would list (lines, collections, containers)."""
    return ax.get_legend_handles_labels()[1]


def data_lines(ax) -> list:
    """Lines of `ax` with a legend label."""
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def lines_with_gid(ax, prefix: str) -> list:
    return [ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith(prefix)]


def line_with_gid(ax, gid: str):
    found = [ln for ln in ax.get_lines() if ln.get_gid() == gid]
    assert len(found) == 1, f"expected one line with gid {gid!r}, found {len(found)}"
    return found[0]


def bands(ax) -> list:
    """Shaded bands (fill_between)."""
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def errorbars(ax) -> list:
    """Errorbar containers, labelled or not."""
    from matplotlib.container import ErrorbarContainer

    return [c for c in ax.containers if isinstance(c, ErrorbarContainer)]


def legends(fig: Figure) -> list:
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]


def legend_entries(fig: Figure) -> list[str]:
    return [t.get_text() for leg in legends(fig) for t in leg.get_texts()]


def all_text(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def with_color(artists, color) -> list:
    """Artists drawn in `color` (any matplotlib colour spec)."""
    from matplotlib.colors import to_rgba

    want = to_rgba(color)[:3]
    return [a for a in artists if np.allclose(to_rgba(a.get_color())[:3], want)]


# ----------------------------------------------------------------------------- assertions


def check_axes_labelled(fig: Figure, ylabel: str = "each", skip=()) -> None:
    """Every visible panel has an x label; a y label on every panel (`ylabel="each"`) or on the
    first panel of each row when a row shares its quantity (`"row"`). Panels in `skip` (images,
    diagrams) need a title instead."""
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        if ax in skip:
            assert ax.get_title().strip(), "a diagram panel needs a title"
            continue
        assert ax.get_xlabel().strip(), f"panel {ax.get_title()!r} has no x label"
        first_in_row = ax.get_subplotspec() is None or ax.get_subplotspec().is_first_col()
        if ylabel == "each" or first_in_row:
            assert ax.get_ylabel().strip(), f"panel {ax.get_title()!r} has no y label"


def check_legends(fig: Figure, proxies=()) -> None:
    """Each legend's entries are non-empty and unique; the legends together list exactly the
    labelled artists of the figure (plus `proxies`, entries drawn with proxy artists); no panel
    draws two labelled artists with one label (a group drawn twice)."""
    all_labels = set()
    for ax in fig.axes:
        counts = Counter(labelled(ax))
        dup = {k: n for k, n in counts.items() if n > 1}
        assert not dup, f"panel {ax.get_title()!r} draws a group more than once: {dup}"
        all_labels |= set(counts)
    entries = set()
    for leg in legends(fig):
        texts = [t.get_text() for t in leg.get_texts()]
        assert all(t.strip() for t in texts), f"empty legend entry in {texts}"
        assert len(texts) == len(set(texts)), f"duplicate legend entries: {texts}"
        entries |= set(texts)
    assert all_labels <= entries, f"labelled but in no legend: {sorted(all_labels - entries)}"
    assert entries <= all_labels | set(proxies), f"legend entries without an artist: {sorted(entries - all_labels)}"


def check_log_axes_positive(fig: Figure) -> None:
    """On a log axis every finite coordinate of every line and band is positive (matplotlib drops
    the others silently) and every line has a point to show."""
    for ax in fig.axes:
        logx, logy = ax.get_xscale() == "log", ax.get_yscale() == "log"
        if not (logx or logy):
            continue
        for ln in ax.get_lines():
            # axhline/axvline: one coordinate is in axes units, not data
            x_data, y_data = ln.get_transform().contains_branch_seperately(ax.transData)
            for is_log, data, name in ((logx and x_data, ln.get_xdata(), "x"), (logy and y_data, ln.get_ydata(), "y")):
                if not is_log:
                    continue
                v = np.asarray(data, float).ravel()
                v = v[np.isfinite(v)]
                assert v.size, f"line {ln.get_label()!r} has no finite {name} data on a log axis"
                assert np.all(v > 0), f"line {ln.get_label()!r} has {name} ≤ 0 on a log axis: {v.min()}"
        for band in bands(ax):
            for path in band.get_paths():
                xy = path.vertices[np.all(np.isfinite(path.vertices), axis=1)]
                if logx:
                    assert np.all(xy[:, 0] > 0), "band with x ≤ 0 on a log axis"
                if logy:
                    assert np.all(xy[:, 1] > 0), "band with y ≤ 0 on a log axis"


def check_reference_line(ax, gid: str, value: float, axis: str = "y", text: str | None = None) -> None:
    """The line `gid` is the constant `value` along `axis` ("y": horizontal, "x": vertical), and
    the reader is told the value: `text` (default: the value formatted with :g) appears in the
    line's legend label or in a text of the panel."""
    ln = line_with_gid(ax, gid)
    data = ln.get_ydata() if axis == "y" else ln.get_xdata()
    assert np.allclose(np.asarray(data, float), value), f"{gid} drawn at {data}, not {value}"
    text = text if text is not None else f"{value:g}"
    said = [ln.get_label()] + [t.get_text() for t in ax.texts]
    assert any(text in s for s in said), f"{gid}: value {text!r} not stated (label {ln.get_label()!r})"


def check_figure(fig: Figure, ylabel: str = "each", skip=(), proxies=()) -> None:
    """The checks every figure passes."""
    check_axes_labelled(fig, ylabel=ylabel, skip=skip)
    check_legends(fig, proxies=proxies)
    check_log_axes_positive(fig)
