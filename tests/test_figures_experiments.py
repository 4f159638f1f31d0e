"""The experiments' figures (all but sparse recovery, see tests/test_figures.py), checked from their
matplotlib objects on small synthetic inputs shaped like what each experiment passes them:
one curve per group, one legend entry per curve, panels labelled, reference lines drawn and
labelled with their values, log axes fed positive data (issue 13 §1)."""

from __future__ import annotations


import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from figure_checks import (  # noqa: E402
    bands,
    check_figure,
    check_legends,
    check_log_axes_positive,
    check_reference_line,
    data_lines,
    errorbars,
    labelled,
    legend_entries,
    line_with_gid,
    lines_with_gid,
    with_color,
)


@pytest.fixture
def keep():
    """Closes the figures a test builds."""
    made = []

    def add(fig):
        made.append(fig)
        return fig

    yield add
    for fig in made:
        plt.close(fig)


# ----------------------------------------------------------------------------- adam-flow-agreement

from implicit_bias_lab.figures.adam_flow_agreement import STYLE, adam_flow_agreement_figure  # noqa: E402


def adam_result(flows=("state", "quasi_static"), etas=(0.02, 0.01, 0.005)):
    """`experiments.adam_flow_agreement.measure`'s layout."""
    rng = np.random.default_rng(0)
    out = {"etas": list(etas), "instances": 12, "flows": {}}
    for k, flow in enumerate(flows):
        out["flows"][flow] = {"agreement": list(np.clip(0.8 + 0.05 * np.arange(len(etas)) - 0.02 * k, 0, 1)),
                              "median_distance": list((1 + k) * np.asarray(etas) * 10 * rng.uniform(0.9, 1.1, len(etas)))}
    return out


def legend_entries_of(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_adam_flow_agreement_one_line_per_flow_and_references(keep):
    result = adam_result()
    fig = keep(adam_flow_agreement_figure(result, title="tiny"))
    check_figure(fig)
    ax_share, ax_dist = fig.axes
    flows = [STYLE[f]["label"] for f in result["flows"]]
    for ax in (ax_share, ax_dist):
        curves = [ln for ln in data_lines(ax) if not (ln.get_gid() or "").startswith("reference")]
        assert [ln.get_label() for ln in curves] == flows
        assert ax.get_xscale() == "log"
        assert legend_entries_of(ax) == labelled(ax)
    # the 0.9 line, labelled with its value
    check_reference_line(ax_share, "reference:0.9", 0.9)
    # the slope-1 guide: through the state flow's smallest-η point, ∝ η
    guide = line_with_gid(ax_dist, "reference:slope 1")
    eta, d = np.asarray(result["etas"]), np.asarray(result["flows"]["state"]["median_distance"])
    np.testing.assert_allclose(guide.get_ydata() / guide.get_xdata(), d[-1] / eta[-1])
    assert "η" in guide.get_label()
    assert ax_dist.get_yscale() == "log"
    assert "12 instances per η" in fig.get_suptitle()


def test_adam_flow_agreement_unknown_flow_and_no_state(keep):
    fig = keep(adam_flow_agreement_figure(adam_result(flows=("quasi_static", "mystery"))))
    check_figure(fig)
    _, ax_dist = fig.axes
    assert lines_with_gid(ax_dist, "reference") == []  # no state flow: no guide through it
    assert [ln.get_label() for ln in data_lines(ax_dist)] == [STYLE["quasi_static"]["label"], "mystery"]


# ----------------------------------------------------------------------------- two-step (linear nets)

from implicit_bias_lab.figures import linear_nets as LNF  # noqa: E402

FRACTIONS = np.linspace(0.1, 0.9, 5)


def line_rows(depth=2, init="orthogonal", budgets=(10.0, 20.0, 40.0), steps=(1, 2, 4), diverge=None, surrogate=True):
    """`experiments.two_step`'s lines.csv rows; `diverge=(budget, step)` makes every run of that
    budget diverge at that step (the figure leaves them out)."""
    rows = []
    for b in budgets:
        for step in steps:
            for f in FRACTIONS:
                loss = 1.0 / (1 + step) * (1 + (f - 0.5) ** 2) * (1 + b / 100)
                if diverge == (b, step):
                    loss = float("inf")
                rows.append({"depth": depth, "init": init, "width": 64, "budget": b, "eta1": float(f * b), "step": step,
                             "gd_mean": loss, "gd_se": 0.01 * loss if np.isfinite(loss) else float("nan"),
                             "surrogate": 1.05 * loss if surrogate and np.isfinite(loss) else float("nan")})
    return rows


def test_lines_one_marker_series_and_one_surrogate_line_per_budget(keep):
    budgets = (10.0, 20.0, 40.0)
    fig = keep(LNF.lines_figure(line_rows(budgets=budgets), 2, "orthogonal"))
    check_figure(fig, ylabel="row")
    assert [ax.get_title() for ax in fig.axes] == ["step 1", "step 2", "step 4 (diverged runs omitted)"]
    for ax in fig.axes:
        assert len(errorbars(ax)) == len(budgets)
        assert len(lines_with_gid(ax, "surrogate")) == len(budgets)
        assert ax.get_yscale() == "log"
        for eb in errorbars(ax):
            assert len(eb.lines[0].get_xdata()) == len(FRACTIONS)  # one point per η₁, not per row
    assert legend_entries(fig) == ["10", "20", "40"]
    assert "markers: exact GD; lines: surrogate" in fig.get_suptitle()


def test_lines_legend_lists_a_budget_that_diverged_in_the_last_panel(keep):
    # defect found: the legend was taken from the last panel only, which omits diverged budgets
    fig = keep(LNF.lines_figure(line_rows(diverge=(40.0, 4)), 2, "orthogonal"))
    check_figure(fig, ylabel="row")
    assert [len(errorbars(ax)) for ax in fig.axes] == [3, 3, 2]
    assert legend_entries(fig) == ["10", "20", "40"]


def test_lines_without_surrogate_draw_markers_only(keep):
    # the Gaussian-init rows carry surrogate = NaN: markers per budget, no line
    fig = keep(LNF.lines_figure(line_rows(init="gaussian", surrogate=False), 2, "gaussian"))
    check_figure(fig, ylabel="row")
    for ax in fig.axes:
        assert len(errorbars(ax)) == 3 and lines_with_gid(ax, "surrogate") == []
    assert LNF.lines_figure(line_rows(), 3, "orthogonal") is None


def window_inputs():
    widths = (32, 64, 128, 256)
    windows = [{"width": w, "window_2layer": (w * 1.0, w * w / 4.0), "window_3layer": (0.5, w / 2.0) if w > 32 else None}
               for w in widths]
    scaling = [{"depth": depth, "width": w, "budget": s, "gd_balanced_wins": wins}
               for depth in (2, 3) for w in widths for s, wins in ((w * 0.5, False), (w * 4.0, True), (w * w, False))]
    edges = [{"depth": 2, "width": w, "gd_edge": w * w / 4.5} for w in widths[1:]] + [{"depth": 3, "width": 64, "gd_edge": None}]
    return windows, scaling, edges


def test_window_one_band_two_edges_and_one_series_per_verdict(keep):
    windows, scaling, edges = window_inputs()
    fig = keep(LNF.window_figure(windows, scaling, edges))
    check_figure(fig)
    for ax, depth in zip(fig.axes, (2, 3)):
        key = f"window_{depth}layer"
        shown = [w for w in windows if w[key]]
        assert len(bands(ax)) == 1
        np.testing.assert_allclose(line_with_gid(ax, "window_lower").get_ydata(), [w[key][0] for w in shown])
        np.testing.assert_allclose(line_with_gid(ax, "window_upper").get_ydata(), [w[key][1] for w in shown])
        lines = {ln.get_label(): ln for ln in data_lines(ax)}
        rows = [r for r in scaling if r["depth"] == depth]
        # one marker series per verdict, not one line per point
        assert len(lines["exact GD: balanced wins"].get_xdata()) == sum(r["gd_balanced_wins"] for r in rows)
        assert len(lines["exact GD: balanced loses"].get_xdata()) == sum(not r["gd_balanced_wins"] for r in rows)
        assert len(ax.get_lines()) == 2 + len(lines)
        assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "exact-GD edge" in labelled(fig.axes[0]) and "exact-GD edge" not in labelled(fig.axes[1])


def test_gap_one_line_per_depth_and_step(keep):
    rows = [{"depth": d, "width": w, "step": k, "relative_gap": (-1) ** k * 2.0 / w}
            for d in (2, 3) for k in (1, 2) for w in (64, 128, 256)]
    rows.append({"depth": 3, "width": 512, "step": 2, "relative_gap": float("nan")})  # left out
    fig = keep(LNF.gap_figure(rows))
    check_figure(fig)
    (ax,) = fig.axes
    assert sorted(labelled(ax)) == ["2-layer, step 1", "2-layer, step 2", "3-layer, step 1", "3-layer, step 2"]
    for ln in data_lines(ax):
        assert list(ln.get_xdata()) == [64, 128, 256]


def test_linear_nets_plot_all_writes_one_file_per_figure(tmp_path):
    windows, scaling, edges = window_inputs()
    rows = line_rows() + line_rows(depth=3, budgets=(1.0, 2.0), steps=(1, 2))
    gap = [{"depth": 2, "width": 64, "step": 1, "relative_gap": 0.1}]
    paths = LNF.plot_all(rows, scaling, gap, windows, tmp_path, edges=edges)
    assert [p.name for p in paths] == ["lines_2layer_orthogonal.png", "lines_3layer_orthogonal.png",
                                       "window_vs_width.png", "surrogate_gap.png"]
    assert all(p.stat().st_size > 0 for p in paths)


# ----------------------------------------------------------------------------- matrix factorization

from implicit_bias_lab.experiments.matrix_factorization import METRICS, OPTIMIZER_NAMES  # noqa: E402
from implicit_bias_lab.experiments.matrix_factorization import Config as MFConfig  # noqa: E402
from implicit_bias_lab.figures import matrix_factorization as MFF  # noqa: E402


def mf_results(config, depths=(2, 3)):
    """`experiments.matrix_factorization.compute`'s layout (the figure's part of it)."""
    rng = np.random.default_rng(1)
    T = config.num_logs + 1
    decay = np.exp(-np.linspace(0, 2, T))
    out = {}
    for depth in depths:
        rec = {"discrete": {}, "slow": {}}
        for k, name in enumerate(OPTIMIZER_NAMES):
            flow = {m: (2 + k + depth) * decay + (0.0 if m == "test_error" else 1.0) for m in METRICS}
            rec["slow"][name] = flow
            rec["discrete"][name] = {m: flow[m] * (1 + 0.02 * rng.normal(size=(config.seeds, T))) for m in METRICS}
        out[depth] = rec
    return out


def test_matrix_factorization_one_band_and_two_lines_per_optimizer(keep):
    config = MFConfig(depths=(2, 3), seeds=3, num_logs=4)
    results = mf_results(config)
    fig = keep(MFF.sharpness_figure(config, results))
    check_figure(fig)
    assert len(fig.axes) == 2 * 3
    for i, ax in enumerate(fig.axes):
        depth, metric = list(results)[i // 3], MFF.PANELS[i % 3][0]
        assert ax.get_title().startswith(f"depth {depth}:")
        assert len(bands(ax)) == len(OPTIMIZER_NAMES)  # one band per discrete mean
        assert len(data_lines(ax)) == 2 * len(OPTIMIZER_NAMES)  # discrete mean + slow flow
        for name in OPTIMIZER_NAMES:
            lines = with_color(ax.get_lines(), MFF.COLORS[name])
            assert len(lines) == config.seeds + 2  # thin single seeds + mean + flow
            (mean,) = [ln for ln in lines if ln.get_label().endswith("discrete (mean ± 2 s.e.)")]
            np.testing.assert_allclose(mean.get_ydata(), results[depth]["discrete"][name][metric].mean(0))
            np.testing.assert_allclose(mean.get_xdata()[-1], config.slow_time)
        assert ax.get_yscale() == ("symlog" if metric == "test_error" else "linear")
    # one legend per row, on its first panel
    assert [ax.get_legend() is not None for ax in fig.axes] == [True, False, False] * 2
    assert len(legend_entries(fig)) == 2 * 4


def test_matrix_factorization_writes_png(tmp_path):
    config = MFConfig(depths=(2,), seeds=2, num_logs=2)
    path = MFF.plot_sharpness_vs_slow_time(config, mf_results(config, depths=(2,)), tmp_path)
    assert path.name == "matrix_factorization.png" and path.stat().st_size > 0


# ----------------------------------------------------------------------------- schedules

from implicit_bias_lab.experiments.multi_power_law import MultiPowerLaw  # noqa: E402
from implicit_bias_lab.figures import schedules as SF  # noqa: E402
from implicit_bias_lab.sde.closed_form import lr_schedule  # noqa: E402

FLOOR = 1.0


def schedule_curves(names=("constant", "cosine", "wsd", "step"), mc=("cosine", "wsd"), T=200, log_every=20):
    """`experiments.schedules.run`'s `curves` (exact, OU, Monte Carlo where run, NaN elsewhere)."""
    times = np.arange(0, T + 1, log_every)
    curves = {}
    for name in names:
        etas = lr_schedule(name, T, 0.5)
        S = np.concatenate([[0.0], np.cumsum(etas)])
        exact = FLOOR + 1.0 / (1.0 + S) + 0.01 * np.concatenate([[etas[0]], etas])
        mc_mean = mc_se = np.full(len(times), np.nan)
        if name in mc:
            mc_mean, mc_se = exact[times] * 1.001, 0.001 * exact[times]
        curves[name] = {"etas": etas, "exact": exact, "ou": exact * 0.99, "mc_mean": mc_mean, "mc_se": mc_se}
    return curves, times


def laws():
    law = MultiPowerLaw(L0=FLOOR + 0.01, A=0.8, alpha=0.9, B=0.05, C=1.0, beta=0.5, gamma=0.3)
    return {"free_gamma": {"law": law}, "gamma_0": {"law": MultiPowerLaw(**{**law.as_dict(), "gamma": 0.0})}}


def test_schedule_curves_one_colour_per_schedule(keep):
    curves, times = schedule_curves()
    fig = keep(SF.curves_figure(curves, times))
    check_figure(fig)
    a0, a1 = fig.axes
    assert labelled(a0) == list(curves) == legend_entries(fig)
    assert labelled(a1) == []  # colours are named in the left panel's legend
    colours = {ln.get_label(): ln.get_color() for ln in data_lines(a0)}
    for name in curves:
        for kind in ("exact", "ou"):
            ln = line_with_gid(a1, f"{kind}:{name}")
            assert ln.get_color() == colours[name]
    # Monte Carlo where it was run; the NaN placeholders draw nothing
    assert len(errorbars(a1)) == 2
    assert a1.get_yscale() == "log"


def test_multi_power_law_one_curve_and_one_prediction_per_schedule(keep):
    curves, _ = schedule_curves()
    fit = ("constant", "cosine")
    fig = keep(SF.mpl_figure(curves, laws(), fit, FLOOR))
    check_figure(fig)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert labelled(ax) == [n + (" (fit)" if n in fit else " (held out)") for n in curves]
        assert len(lines_with_gid(ax, "law:")) == len(curves)
        assert ax.get_xscale() == ax.get_yscale() == "log"
        assert "(dashed)" in ax.get_title()


def test_schedules_plot_all_writes_both_files(tmp_path):
    curves, times = schedule_curves(names=("constant", "cosine"), mc=("cosine",), T=50, log_every=10)

    class Cfg:
        fit_schedules = ("constant",)
        loss_floor = FLOOR

    paths = SF.plot_all(curves, times, laws(), Cfg, tmp_path)
    assert [p.name for p in paths] == ["schedules_loss.png", "multi_power_law.png"]
    assert all(p.stat().st_size > 0 for p in paths)


# ----------------------------------------------------------------------------- slow-SDE validation

from implicit_bias_lab.experiments.slow_sde_validation import CASES  # noqa: E402
from implicit_bias_lab.figures import slow_sde_validation as SSF  # noqa: E402


def sde_records(cases=tuple(CASES), etas=(0.04, 0.02, 0.01), nan_at=None):
    """`experiments.slow_sde_validation.compute`'s records (the fields the figure reads); Adam
    cases compare against the printed theorem too. `nan_at=(case, i)` puts a NaN error there."""
    records = []
    for k, name in enumerate(cases):
        spec = CASES[name]
        for i, eta in enumerate(etas):
            rec = {"case": name, "model": spec.model, "family": spec.family, "eta": eta, "C": spec.C,
                   "rel_err": (1 + k) * eta, "rel_err_se": 0.05 * (1 + k) * eta}
            if spec.family == "adam":
                rec["rel_err_printed"] = 0.7
            if nan_at == (name, i):
                rec["rel_err"] = float("nan")
            records.append(rec)
    return records


def slopes_of(records):
    return {r["case"]: 1.0 for r in records}


def test_slow_sde_one_series_and_one_labelled_bound_per_case(keep):
    records = sde_records(nan_at=("sgd-diagnet", 1))
    fig = keep(SSF.error_vs_eta_figure(records, slopes_of(records)))
    check_figure(fig)
    for ax, (family, _) in zip(fig.axes, SSF.PANELS):
        cases = [n for n in CASES if CASES[n].family == family]
        assert len(errorbars(ax)) == len(cases)  # a NaN point does not split a case
        assert len(lines_with_gid(ax, "bound:")) == len(cases)
        for name in cases:
            C = CASES[name].C
            bound = line_with_gid(ax, f"bound:{name}")
            np.testing.assert_allclose(bound.get_ydata(), C * np.asarray(bound.get_xdata()))
            # the bound's value is stated in its case's legend entry, in the case's colour
            (entry,) = [lab for lab in labelled(ax) if lab.startswith(f"{name}: slope")]
            assert f"bound {C:g}η" in entry
            (series,) = [eb for eb in errorbars(ax) if eb.get_label() == entry]
            assert series.lines[0].get_color() == bound.get_color()
        printed = [lab for lab in labelled(ax) if "printed" in lab]
        assert len(printed) == (len(cases) if family == "adam" else 0)
        assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "Cη" in fig.get_suptitle()


def test_slow_sde_panel_without_cases_says_so(keep):
    records = sde_records(cases=("gd-diagnet",))
    fig = keep(SSF.error_vs_eta_figure(records, slopes_of(records)))
    check_legends(fig)
    check_log_axes_positive(fig)
    ax_sgd, ax_adam = fig.axes
    assert ax_adam.get_legend() is None and [t.get_text() for t in ax_adam.texts] == ["no cases run"]
    assert len(errorbars(ax_sgd)) == 1


def test_slow_sde_writes_png(tmp_path):
    records = sde_records(cases=("gd-diagnet", "adam-product"))
    path = SSF.plot_error_vs_eta(records, slopes_of(records), tmp_path)
    assert path.name == "slow_sde_validation.png" and path.stat().st_size > 0
