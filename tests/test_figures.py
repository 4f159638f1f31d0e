"""The sparse-recovery figure, checked from its matplotlib objects on small synthetic datasets
shaped like `experiments.sparse_recovery.to_dataset` (a flat table over `record`)."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from implicit_bias_lab.figures.sparse_recovery import (  # noqa: E402
    plot_sparse_recovery,
    sparse_recovery_figure,
    wilson_interval,
)

THRESHOLD = 0.1
REFERENCE_OPTIMIZER = {"l1": "sgd", "lhalf": "adam"}


def make_dataset(optimizers=("gd", "sgd", "adam"), methods=("discrete", "slow"), ns=(10, 20, 30), seeds=4,
                 sweep=None, threshold=THRESHOLD, loss_of=None, attrs=None):
    """Records for every (optimizer, method[, swept value], n, seed), as to_dataset lays them out;
    the limit programs l1/lhalf get one optimizer each (sgd/adam), like the experiment records them."""
    key, values = sweep if sweep else (None, [None])
    rng = np.random.default_rng(0)
    rows = []
    pairs = []
    for meth in methods:
        if meth in REFERENCE_OPTIMIZER:
            pairs.append((REFERENCE_OPTIMIZER[meth], meth))
        else:
            pairs.extend((opt, meth) for opt in optimizers)
    for (opt, meth), value, n, seed in itertools.product(pairs, values, ns, range(seeds)):
        loss = loss_of(opt, meth, n, seed) if loss_of else float(10 ** (1 - n / 10 + rng.normal(0, 0.5)))
        rows.append(dict(optimizer=opt, method=meth, n=n, seed=seed, test_loss=loss, value=value))
    loss = np.array([r["test_loss"] for r in rows])
    ds = xr.Dataset(
        {
            "optimizer": ("record", np.array([r["optimizer"] for r in rows], dtype=str)),
            "method": ("record", np.array([r["method"] for r in rows], dtype=str)),
            "n": ("record", np.array([r["n"] for r in rows], np.int64)),
            "seed": ("record", np.array([r["seed"] for r in rows], np.int64)),
            "test_loss": ("record", loss),
            "status": ("record", np.array(["ok"] * len(rows), dtype=str)),
            "recovered": ("record", (loss < threshold).astype(np.int8)),
        },
        attrs={"recovery_threshold": threshold, "experiment": "sparse-recovery", **(attrs or {})},
    )
    if key:
        ds[key] = ("record", np.array([r["value"] for r in rows], np.float64))
        ds.attrs["sweep_key"] = key
    return ds


@pytest.fixture
def figure():
    """Builds figures and closes them after the test."""
    made = []

    def build(ds, **kw):
        fig = sparse_recovery_figure(ds, **kw)
        made.append(fig)
        return fig

    yield build
    for fig in made:
        plt.close(fig)


def data_lines(ax):
    """The curves of a panel: labelled lines that are not the threshold."""
    return [ln for ln in ax.get_lines() if ln.get_gid() != "threshold" and not ln.get_label().startswith("_")]


def success_panels(fig):
    return [ax for ax in fig.axes if ax.get_yscale() == "linear" and ax.get_lines()]


def loss_panels(fig):
    return [ax for ax in fig.axes if ax.get_yscale() == "log"]


def bands(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def legend_labels(fig):
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def all_text(fig) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(Text))


def column(ax) -> str:
    return ax.get_gid().split(":", 1)[1]


def check_consistent(fig):
    """Legend entries are exactly the curves' labels; one band per curve on success panels;
    every loss panel draws the same curves as the success panel above it; axes are labelled."""
    labels = [ln.get_label() for ax in fig.axes for ln in data_lines(ax)]
    entries = legend_labels(fig)
    assert len(entries) == len(set(entries)) == len(set(labels))
    assert set(entries) == set(labels)
    rates, losses = success_panels(fig), loss_panels(fig)
    assert len(rates) == len(losses) >= 1
    for rate, loss in zip(rates, losses):
        assert len(bands(rate)) == len(data_lines(rate)), "one Wilson band per curve"
        assert [ln.get_label() for ln in data_lines(rate)] == [ln.get_label() for ln in data_lines(loss)]
        assert loss.get_xlabel()
    assert rates[0].get_ylabel() and losses[0].get_ylabel()
    assert "success" in rates[0].get_ylabel() and "loss" in losses[0].get_ylabel()


def test_no_sweep_draws_one_curve_per_method_not_per_record(figure):
    # 3 optimizers × 2 methods × 3 n × 4 seeds = 72 records, 6 curves
    ds = make_dataset()
    fig = figure(ds)
    groups = len({(o, m) for o, m in zip(ds.optimizer.values, ds.method.values)})
    for ax in fig.axes:
        assert len(data_lines(ax)) <= groups, f"{len(data_lines(ax))} curves in a panel for {groups} groups"
    rates = success_panels(fig)
    assert sorted(column(ax) for ax in rates) == ["adam", "gd", "sgd"]
    for ax in rates + loss_panels(fig):
        assert len(data_lines(ax)) == 2
        for ln in data_lines(ax):
            assert len(ln.get_xdata()) == 3  # one point per n
    check_consistent(fig)
    assert len(legend_labels(fig)) == 2


def test_reference_programs_drawn_in_every_column_alike(figure):
    ds = make_dataset(methods=("discrete", "slow", "l1", "lhalf"))
    fig = figure(ds)
    check_consistent(fig)
    styles = {}
    for ax in success_panels(fig) + loss_panels(fig):
        lines = {ln.get_label(): ln for ln in data_lines(ax)}
        assert len(lines) == 4
        refs = [lab for lab in lines if "limit" in lab]
        assert len(refs) == 2
        assert any("ℓ1 LP (SGD limit)" in lab for lab in refs) and any("local ℓ½ (Adam limit)" in lab for lab in refs)
        for lab in refs:
            ln = lines[lab]
            style = (ln.get_color(), ln.get_linestyle(), ln.get_marker(), ln.get_linewidth())
            assert styles.setdefault(lab, style) == style
            assert ln.get_linewidth() < min(lines[o].get_linewidth() for o in lines if o not in refs)
    # methods differ by marker and line style, not by colour alone
    first = data_lines(success_panels(fig)[0])
    assert len({ln.get_marker() for ln in first}) == len(first)
    assert len({(ln.get_linestyle(), ln.get_linewidth()) for ln in first}) > 1
    assert len(legend_labels(fig)) == 4


def test_sweep_draws_one_shaded_curve_per_method_and_value(figure):
    ds = make_dataset(optimizers=("sgd", "adam"), sweep=("lr_adam", [0.005, 0.01, 0.02]))
    fig = figure(ds)
    check_consistent(fig)
    for ax in success_panels(fig):
        lines = data_lines(ax)
        assert len(lines) == 2 * 3
        assert all("lr_adam=" in ln.get_label() for ln in lines)
        for meth in {ln.get_label().split(",")[0] for ln in lines}:
            colours = [ln.get_color() for ln in lines if ln.get_label().startswith(meth + ",")]
            assert len(set(map(str, colours))) == 3  # dark → light
    assert {"lr_adam=0.005", "lr_adam=0.01", "lr_adam=0.02"} <= {e.split(", ")[-1] for e in legend_labels(fig)}
    assert len(legend_labels(fig)) == 6


def test_single_optimizer_single_n(figure):
    ds = make_dataset(optimizers=("adam",), methods=("discrete", "lhalf"), ns=(20,), seeds=3)
    fig = figure(ds)
    check_consistent(fig)
    (rate,) = success_panels(fig)
    assert column(rate) == "adam"
    assert len(data_lines(rate)) == 2
    lo, hi = rate.get_xlim()
    assert lo < 20 < hi


def test_loss_axis_clipped_near_threshold_and_threshold_labelled(figure):
    def loss_of(opt, meth, n, seed):
        return 1e-30 if meth == "l1" or (n == 30 and opt == "sgd") else 0.5 / n

    ds = make_dataset(methods=("discrete", "l1"), loss_of=loss_of)
    fig = figure(ds)
    check_consistent(fig)
    for ax in loss_panels(fig):
        low, high = ax.get_ylim()
        assert low >= THRESHOLD * 1e-4
        assert high > THRESHOLD
        for ln in data_lines(ax):
            assert np.min(ln.get_ydata()) >= low  # clipped values stay in view
        (thr,) = [ln for ln in ax.get_lines() if ln.get_gid() == "threshold"]
        assert np.allclose(thr.get_ydata(), THRESHOLD)
        texts = [t.get_text() for t in ax.texts]
        assert any("threshold" in t and "0.1" in t for t in texts)
        assert any("below" in t for t in texts)  # the reader is told about the clipping


def test_seeds_per_point_and_protocol_stated(figure):
    ds = make_dataset(seeds=4, attrs={"protocol": "paper-protocol: fixed budget of 20000 steps"})
    fig = figure(ds, title="d=100")
    text = all_text(fig)
    assert "4 seeds per point" in text
    assert "paper-protocol: fixed budget of 20000 steps" in fig.get_suptitle()
    assert "d=100" in fig.get_suptitle()
    # a missing run: the range is stated
    fig = figure(ds.isel(record=np.arange(1, ds.sizes["record"])))
    assert "3–4 seeds per point" in all_text(fig)
    # a long protocol and measure on a narrow figure are wrapped, never cut at the figure's edge
    long = make_dataset(optimizers=("adam",), attrs={"protocol": "paper protocol: " + "every optimizer for a fixed budget " * 4,
                                                    "recovery_measure": "mean test loss of the last 10 of 100 logged iterates < 0.1"})
    fig = figure(long, title="d=200")
    width = fig.get_size_inches()[0]
    assert all(len(line) <= 12 * width for line in fig.get_suptitle().splitlines())


def test_unknown_method_and_optimizer_are_drawn(figure):
    ds = make_dataset(optimizers=("adam", "lion"), methods=("discrete", "slow_qs", "mystery"))
    fig = figure(ds)
    check_consistent(fig)
    assert sorted(column(ax) for ax in success_panels(fig)) == ["adam", "lion"]
    assert len(legend_labels(fig)) == 3
    assert any("quasi-static" in e for e in legend_labels(fig))


def test_real_dataset_layout(figure):
    """The dataset exactly as the experiment builds it (with a sweep)."""
    from implicit_bias_lab.experiments.sparse_recovery import FIELDS, Config, to_dataset

    config = Config(d=10, kappa=2, n=(4, 8), seeds=2, optimizers=("sgd", "adam"), sweep_key="lr_adam",
                    sweep_values=(0.01, 0.02))
    records = []
    for (opt, meth), value, n, seed in itertools.product(
        [("sgd", "discrete"), ("adam", "discrete"), ("sgd", "l1"), ("adam", "lhalf")], (0.01, 0.02), (4, 8), range(2)
    ):
        rec = {"optimizer": opt, "method": meth, "n": n, "seed": seed, "lr_adam": value}
        rec.update({k: 0.0 for k in FIELDS})
        # only Adam's own runs depend on lr_adam
        loss = 1.0 / n**2 * (value / 0.01 if (opt, meth) == ("adam", "discrete") else 1.0)
        rec.update(test_loss=loss, status=0, steps=1)
        records.append(rec)
    fig = figure(to_dataset(config, records))
    check_consistent(fig)
    panels = {column(ax): ax for ax in success_panels(fig)}
    # curves the sweep does not change are drawn once, labelled as such
    assert sorted(ln.get_label() for ln in data_lines(panels["sgd"])) == [
        "discrete optimizer, any lr_adam", "local ℓ½ (Adam limit), any lr_adam", "ℓ1 LP (SGD limit), any lr_adam"]
    adam = [ln.get_label() for ln in data_lines(panels["adam"])]
    assert len(adam) == 4 and {"discrete optimizer, lr_adam=0.01", "discrete optimizer, lr_adam=0.02"} <= set(adam)
    assert "2 seeds per point" in all_text(fig)


def test_plot_writes_png_and_pdf(tmp_path):
    paths = plot_sparse_recovery(make_dataset(optimizers=("sgd",), ns=(10, 20), seeds=2), tmp_path, title="t")
    assert [p.name for p in paths] == ["sparse_recovery.png", "sparse_recovery.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)


def test_wilson_interval_brackets_the_rate():
    lo, hi = wilson_interval(np.array([0.0, 4.0, 8.0]), np.array([8.0, 8.0, 8.0]))
    assert np.all(lo >= 0) and np.all(hi <= 1) and np.all(lo < hi)
    assert lo[0] == pytest.approx(0.0, abs=1e-12) and hi[2] == pytest.approx(1.0, abs=1e-12)
    assert lo[1] < 0.5 < hi[1]


def test_dense_n_grids_get_readable_tick_labels():
    """Every n of the grid gets a tick; labels only where they keep 7 % of the axis apart, the last n
    always labelled (the paper grid 200, 300, 350, …, 1000 printed its middle labels on top of each
    other); sparse grids keep every label."""
    from implicit_bias_lab.figures.sparse_recovery import _spaced_labels

    paper = [200, 300, 350, 400, 450, 500, 600, 800, 1000]
    labels = _spaced_labels(paper)
    assert labels == ["200", "300", "", "400", "", "500", "600", "800", "1000"]
    shown = [n for n, text in zip(paper, labels) if text]
    assert min(b - a for a, b in zip(shown, shown[1:])) >= 0.07 * (paper[-1] - paper[0])
    assert _spaced_labels([15, 20, 25, 30, 40]) == ["15", "20", "25", "30", "40"]
    assert _spaced_labels([100, 950, 1000])[-1] == "1000" and _spaced_labels([100, 950, 1000])[1] == ""
