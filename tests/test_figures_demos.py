"""The demos' stills (and the valley GIF), checked from their matplotlib objects on small synthetic
results shaped like each demo's `compute` (the demos themselves run in tests/test_demos.py): one
curve per group, one legend entry per curve, panels labelled, reference values drawn and
labelled with their values, log axes fed positive data (issue 13 §1)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

from figure_checks import (  # noqa: E402
    check_figure,
    check_reference_line,
    data_lines,
    labelled,
    legend_entries,
    with_color,
)
from implicit_bias_lab.experiments.demos.common import COLORS  # noqa: E402

T = 6  # logged points of the synthetic paths


def panel(fig, prefix: str):
    """The panel whose title starts with `prefix`."""
    (ax,) = [ax for ax in fig.axes if ax.get_title().startswith(prefix)]
    return ax


# ----------------------------------------------------------------------------- valley

from implicit_bias_lab.experiments.demos import valley as V  # noqa: E402


def valley_result(runs=2, frames=T):
    s = V.ValleySettings(eta=0.05, slow_time=1.0, runs=runs, num_logs=frames - 1)
    angles = np.linspace(-np.pi, np.pi, 73)

    def point(phi):  # the ellipse p = θ₀+θ₁ = √2 a cos φ, q = θ₁−θ₀ = √2 b sin φ
        p, q = np.sqrt(2) * s.a * np.cos(phi), np.sqrt(2) * s.b * np.sin(phi)
        return np.stack([(p - q) / 2, (p + q) / 2], axis=-1)

    ends = {"sgd": 0.0, "adam": V.adam_rest_angle(s)}
    flows = {name: point(np.linspace(s.phi0, end, frames)) for name, end in ends.items()}
    rng = np.random.default_rng(0)
    discrete = {name: flows[name][None] + 0.01 * rng.normal(size=(runs, frames, 2)) for name in ends}
    discrete["adam"][:, 0] = discrete["sgd"][:, 0] = flows["sgd"][0]  # same start
    trace_h = 2.0 + np.cos(2 * angles) ** 2
    trace_sqrt = 1.5 + np.abs(np.sin(angles - ends["adam"]))
    return V.ValleyResult(s, np.linspace(0, s.slow_time, frames), discrete, flows, point(angles), angles,
                          trace_h, trace_sqrt)


def test_valley_still():
    result = valley_result(runs=3)
    fig = V.plot_still(result)
    check_figure(fig)
    s = result.settings
    ax_paths, ax_drift, ax_reg = panel(fig, "(a)"), panel(fig, "(b)"), panel(fig, "(c)")
    for ax in (ax_paths, ax_drift):
        for name in ("sgd", "adam"):
            # one thin line per run, one legend entry per optimizer
            runs = [ln for ln in with_color(ax.get_lines(), COLORS[name])
                    if ln.get_linewidth() == 1 and not (ln.get_gid() or "").startswith("reference")]
            assert len(runs) == s.runs
        assert sum(lab.startswith(V.LABELS["sgd"]) for lab in labelled(ax)) == 1
        assert sum(lab.startswith(V.LABELS["adam"]) for lab in labelled(ax)) == 1
    # (b) the two predicted end angles, labelled with their values
    check_reference_line(ax_drift, "reference:sgd", 0.0, text=r"$\varphi$ = 0")
    check_reference_line(ax_drift, "reference:adam", V.adam_rest_angle(s), text=f"{V.adam_rest_angle(s):.2f}")
    # (c) one curve per regularizer, the end angles and the start marked and labelled
    assert len(data_lines(ax_reg)) == 2 + 3
    check_reference_line(ax_reg, "reference:sgd", 0.0, axis="x", text=r"$\varphi$ = 0")
    check_reference_line(ax_reg, "reference:adam", V.adam_rest_angle(s), axis="x", text=f"{V.adam_rest_angle(s):.2f}")
    check_reference_line(ax_reg, "reference:start", s.phi0, axis="x", text=f"{s.phi0:.2f}")
    for ln in data_lines(ax_reg)[:2]:
        assert np.min(ln.get_ydata()) == pytest.approx(1.0)  # normalized by its minimum


def test_valley_gif_has_moving_frames(tmp_path):
    from PIL import Image, ImageChops

    result = valley_result(runs=1, frames=4)
    path = V.save_animation(result, tmp_path / "valley.gif", fps=2, dpi=40)
    with Image.open(path) as gif:
        assert gif.n_frames >= 4  # one per logged point (the held last frame may be merged into it)
        frames = []
        for i in range(gif.n_frames):
            gif.seek(i)
            frames.append(gif.convert("RGB").copy())
    for frame in frames:
        lo, hi = zip(*frame.getextrema())
        assert max(hi) - min(lo) > 100, "blank frame"
    assert ImageChops.difference(frames[0], frames[-1]).getbbox() is not None, "nothing moves"


# ----------------------------------------------------------------------------- rotation

from implicit_bias_lab.experiments.demos import rotation as R  # noqa: E402


def test_rotation_still():
    s = R.RotationSettings(num_angles=13)
    degrees = np.linspace(0, 180, s.num_angles)
    phi = np.deg2rad(degrees)
    measures = {"tr H": np.full_like(phi, s.lam1 + s.lam2), "tr H^1/2": np.full_like(phi, np.sqrt(s.lam1) + np.sqrt(s.lam2)),
                "tr Diag(H)^1/2": R.closed_form_trace_sqrt_diag(s.lam1, s.lam2, phi), "λmax": np.full_like(phi, s.lam1)}
    fig = R.plot_still(R.RotationResult(s, degrees, measures))
    check_figure(fig)
    ax_e, ax_m = fig.axes
    assert len(data_lines(ax_e)) == 3  # the three rotated level sets
    # one curve per measure, plus the closed form at 45°, labelled with its value
    curves = [ln for ln in data_lines(ax_m) if ln.get_gid() != "reference:45"]
    assert len(curves) == len(measures)
    at45 = np.sqrt(2 * (s.lam1 + s.lam2))
    mark = [ln for ln in ax_m.get_lines() if ln.get_gid() == "reference:45"]
    assert len(mark) == 1 and np.allclose(mark[0].get_xydata(), [[45, at45]])
    assert f"{at45:.3g}" in mark[0].get_label()


def test_rotation_still_from_compute():
    """The demo's own (small, cheap) result, not a synthetic one."""
    result = R.compute(small=True)
    fig = R.plot_still(result)
    check_figure(fig)
    _, ax_m = fig.axes
    assert len([ln for ln in data_lines(ax_m) if ln.get_gid() != "reference:45"]) == len(result.measures)


# ----------------------------------------------------------------------------- kernel-rich

from implicit_bias_lab.experiments.demos import kernel_rich as K  # noqa: E402


def kernel_result(alphas):
    s = K.KernelRichSettings(n=4, d=8, kappa=2, alphas=alphas, num_curve=5)
    rng = np.random.default_rng(0)
    w_star = np.zeros(s.d)
    w_star[:2] = 1.0
    w_l2 = w_star + 0.2 * rng.normal(size=s.d)
    t = np.linspace(0, 1, len(alphas))[:, None]
    curve_alphas = np.geomspace(min(alphas), max(alphas), s.num_curve)
    tc = np.linspace(0, 1, s.num_curve)[:, None]
    return K.KernelRichResult(s, rng.normal(size=(s.n, s.d)), np.ones(s.n), w_star, w_star.copy(), w_l2,
                              (1 - t) * w_star + t * w_l2, np.full(len(alphas), 1e-12), curve_alphas,
                              (1 - tc) * w_star + tc * w_l2 + 1e-3)


@pytest.mark.parametrize("alphas", [(1e-3, 0.1, 1.0, 10.0), (1e-3, 10.0), (0.1,)])
def test_kernel_rich_still(alphas):
    # defect found: with 1 or 2 α the same GD run was drawn and listed two or three times
    result = kernel_result(alphas)
    fig = K.plot_still(result)
    check_figure(fig)
    ax_w, ax_d = fig.axes
    gd = [lab for lab in labelled(ax_w) if lab.startswith("GD")]
    assert len(gd) == min(3, len(alphas))
    assert {r"min-$\ell_2$ interpolant (kernel)", r"truth $w^*$ (0 elsewhere)"} <= set(labelled(ax_w))
    assert len(data_lines(ax_d)) == 4
    for ln in data_lines(ax_d):
        n = len(ln.get_xdata())
        assert n == (len(alphas) if ln.get_label().startswith("GD") else result.settings.num_curve)
    assert ax_d.get_xscale() == "log"


# ----------------------------------------------------------------------------- label-noise rescue

from implicit_bias_lab.experiments.demos import label_noise_rescue as L  # noqa: E402


def rescue_result(runs=3):
    s = L.RescueSettings(n=4, d=8, kappa=2, runs=runs)
    steps = np.linspace(0, 1000, T)
    decay = np.exp(-steps / 300)
    w_star = np.zeros(s.d)
    w_star[:2] = 1.0
    w_l2 = w_star + 0.3
    noisy = np.stack([decay * (1 + 0.1 * k) + 1e-4 for k in range(runs)])
    return L.RescueResult(
        s, steps, {"gd": np.ones((1, T)), "label_noise": noisy}, {"gd": np.ones((1, T)), "label_noise": 0.9 * noisy},
        {"gd": np.tile(w_l2, (1, 1)), "label_noise": np.tile(w_star, (runs, 1))}, w_star, w_star.copy(), w_l2,
        steps[::2], decay[::2] + 1e-4,
    )


def test_label_noise_rescue_still():
    result = rescue_result(runs=3)
    fig = L.plot_still(result)
    check_figure(fig)
    ax_l, ax_w = fig.axes
    assert ax_l.get_yscale() == "log"
    # GD: one (deterministic) run; label noise: raw and projected line per run, one entry each
    assert len(with_color(ax_l.get_lines(), COLORS["gd"])) == 1
    assert len(with_color(ax_l.get_lines(), COLORS["sgd"])) == 2 * result.settings.runs
    assert len(labelled(ax_l)) == 5
    # the min-ℓ2 interpolant's test loss, labelled with its value
    value = 0.5 * float(np.sum((result.w_l2 - result.w_star) ** 2))
    check_reference_line(ax_l, "reference:l2", value, text=f"{value:.3g}")
    assert len(data_lines(ax_w)) == 3


# ----------------------------------------------------------------------------- deep-linear sharpness

from implicit_bias_lab.experiments.demos import deep_linear_sharpness as D  # noqa: E402

METRICS = ("trace_hessian", "trace_sqrt_diag_hessian", "test_error")


def deep_linear_result(runs=2):
    s = D.DeepLinearSettings(runs=runs)
    steps = np.linspace(0, 1000, T)
    logs = {name: {m: np.stack([(2 + k) * np.exp(-steps / 500) + r * 0.01 for r in range(runs)]) for m in METRICS}
            for k, name in enumerate(("sgd", "adam"))}
    sv = lambda top: np.concatenate([[top], np.full(s.size - 1, 1e-3)])  # noqa: E731
    return D.DeepLinearResult(s, steps, logs, {"start": sv(1.2), "sgd": sv(1.0), "adam": sv(1.0)}, sv(1.0))


def test_deep_linear_sharpness_still():
    result = deep_linear_result(runs=2)
    fig = D.plot_still(result)
    check_figure(fig)
    *curves, ax_bar = fig.axes
    for ax in curves:
        for name in ("sgd", "adam"):
            assert len(with_color(ax.get_lines(), COLORS[name])) == result.settings.runs
        assert labelled(ax) == [D.LABELS["sgd"], D.LABELS["adam"]]
    assert curves[2].get_yscale() == "symlog"
    bars = [c for c in ax_bar.containers if isinstance(c, BarContainer)]
    assert len(bars) == 4 and all(len(b) == result.settings.size for b in bars)
    assert legend_entries(fig)[-4:] == ["start (GD on Γ)", D.LABELS["sgd"], D.LABELS["adam"], r"$M^*$"]
