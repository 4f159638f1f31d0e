r"""SGD against Adam on a valley of minima: the noisy ellipse of Li–Wen–Lyu (2025, Figure 1).

The loss L(θ) = ½((θ₀+θ₁)²/(2a²) + (θ₁−θ₀)²/(2b²) − 1 − δ)² with label noise δ = ±½ has a whole
ellipse Γ of minimizers. Both optimizers reach Γ at once and then, on the slow time scale
t = η²k, the noise makes them drift *along* Γ. Label-noise gradient descent follows the
Slow ODE dζ/dt = −(c/4) P_∥ ∇tr H(ζ) (Σ = cH, c = δ²/n) and ends at the flattest point (smallest
tr H, on the long axis). Adam with 1 − β₂ = c₂η² and no bias correction follows
dζ/dt = −(c/4) ∂Φ_S S ∇³L[S], S = 1/√v, and stops where ∇_Γ tr Diag(H)^{1/2} = 0: the point where
∇f is parallel to a coordinate axis ("sparse" gradient), tan φ = b/a in the ellipse's angle φ.
The demo runs both discrete optimizers from the same point of Γ, integrates both slow flows
(`sde.slow` velocity fields, fixed-step RK4 in slow time, retracted onto Γ after every step) and
draws a still and a GIF.

    SGD:  dζ/dt = −(c/4) P_∥ ∇ tr H         Adam:  ∇_Γ tr Diag(H)^{1/2} = 0 at the end point
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.animation import PillowWriter

from implicit_bias_lab import models
from implicit_bias_lab.experiments.demos.common import COLORS, new_figure, rk4_path, write_still_and_summary
from implicit_bias_lab.models.sharpness import diag_power_trace
from implicit_bias_lab.sde import manifold as mf
from implicit_bias_lab.sde.discrete import simulate_runs
from implicit_bias_lab.sde.families import get_family
from implicit_bias_lab.sde.noise import LabelNoise
from implicit_bias_lab.precision import enable_x64

DESCRIPTION = "SGD vs Adam drifting along the noisy ellipse of minima (still + GIF, with slow flows)"
TITLE = "Along a valley of minima, label-noise SGD goes to the smallest tr H, Adam to the smallest tr Diag(H)$^{1/2}$"
EQUATION = (
    r"SGD: $\dot\zeta=-\frac{c}{4}P_\parallel\nabla\mathrm{tr}H$"
    r"$\qquad$Adam: $\dot\zeta=-\frac{c}{4}\partial\Phi_S S\nabla^3L[S]$, "
    r"rest point $\nabla_\Gamma\mathrm{tr}\,\mathrm{Diag}(H)^{1/2}=0$"
)


@dataclass(frozen=True)
class ValleySettings:
    a: float = 1.0  # semi-axis along the diagonal θ₀ = θ₁
    b: float = 0.5  # semi-axis along the anti-diagonal
    delta: float = 0.5  # label noise ±δ on the single label (c = δ²/n = δ²)
    phi0: float = 1.3  # start: the point of Γ at this ellipse angle
    eta: float = 0.01  # learning rate of both optimizers
    c2: float = 20.0  # Adam: 1 − β₂ = c₂η²
    beta1: float = 0.9
    eps: float = 1e-8
    slow_time: float = 3.0  # run for slow_time/η² steps
    runs: int = 4
    num_logs: int = 60  # logged points (= animation frames)
    flow_dt: float = 0.01  # RK4 step of the slow flows, in slow time
    seed: int = 0


FULL = ValleySettings()
SMALL = ValleySettings(eta=0.02, slow_time=2.0, runs=2, num_logs=12, flow_dt=0.02)


def ellipse_angle(settings: ValleySettings, theta) -> np.ndarray:
    """The angle φ of θ in the ellipse's frame p = θ₀+θ₁ = √2 a cos φ, q = θ₁−θ₀ = √2 b sin φ."""
    theta = np.asarray(theta)
    p, q = theta[..., 0] + theta[..., 1], theta[..., 1] - theta[..., 0]
    return np.arctan2(q / (np.sqrt(2) * settings.b), p / (np.sqrt(2) * settings.a))


def adam_rest_angle(settings: ValleySettings) -> float:
    """tan φ = b/a: there ∂f/∂θ₀ = 0, so Diag(H) has a zero and tr Diag(H)^{1/2} its minimum."""
    return float(np.arctan2(settings.b, settings.a))


def label_noise_constant(settings: ValleySettings) -> float:
    """c = δ²/n with n = 1 (full-batch label-noise GD on one sample): Σ = cH on Γ."""
    return settings.delta**2


def run_discrete(settings: ValleySettings, problem, theta0):
    """Label-noise GD and Adam (no bias correction, v₀ = c·diag H(θ₀)) from θ₀ ∈ Γ."""
    c = label_noise_constant(settings)
    steps = int(round(settings.slow_time / settings.eta**2))
    log_every = max(1, steps // settings.num_logs)
    steps = log_every * settings.num_logs
    noise = LabelNoise(settings.delta)
    keys = jax.random.split(jax.random.PRNGKey(settings.seed), settings.runs)
    theta = jnp.tile(theta0, (settings.runs, 1))
    record = {"theta": lambda problem, th: th}
    out = {}
    for name in ("sgd", "adam"):
        family = get_family(name)
        tx, state0 = family.transform(settings.eta), None
        if family.has_state:
            tx = family.transform(settings.eta, b1=settings.beta1, b2=1.0 - settings.c2 * settings.eta**2, eps=settings.eps)
            v0 = c * jnp.diagonal(problem.gauss_newton_hessian(theta0))
            state0 = family.with_second_moment(jax.vmap(tx.init)(theta), jnp.tile(v0, (settings.runs, 1)))
        sim = simulate_runs(problem, noise, tx, theta, keys, num_steps=steps,
                            log_every=log_every, metrics=record, opt_state0=state0, block_size=settings.runs)
        out[name] = np.asarray(sim.logs["theta"])
    slow_times = np.asarray(sim.log_steps[0], float) * settings.eta**2
    return slow_times, out


def run_slow_flow(settings: ValleySettings, loss_fn, theta0, optimizer: str) -> np.ndarray:
    """Slow flow from θ₀ ∈ Γ with `sde.slow`'s velocity fields: RK4 steps of `flow_dt` in slow time,
    each followed by Newton steps back onto Γ. Adam carries its second moment v
    (dv/dt = c₂(c·diag H − v), v₀ = c·diag H(θ₀)). Returns the path at the logged times."""
    c = label_noise_constant(settings)
    steps = int(round(settings.slow_time / settings.flow_dt))
    per_log = max(1, steps // settings.num_logs)
    dt = settings.slow_time / (per_log * settings.num_logs)

    family = get_family(optimizer)

    def velocity(state):
        zeta, v = state
        dv = family.label_noise_state_velocity(loss_fn, zeta, v, c, settings.c2) if family.has_state else jnp.zeros_like(v)
        return family.slow_velocity(loss_fn, zeta, c, v, settings.eps, rank=1), dv

    def retract(state):
        zeta, v = state
        return mf.newton_retract(loss_fn, zeta, rank=1, num_iters=2), v

    @jax.jit
    def integrate(zeta0):
        v0 = family.label_noise_fixed_point(loss_fn, zeta0, c) if family.has_state else jnp.zeros_like(zeta0)
        return rk4_path(velocity, (zeta0, v0), dt, per_log, settings.num_logs, retract)[0]

    return np.asarray(integrate(theta0))


@dataclass
class ValleyResult:
    settings: ValleySettings
    slow_times: np.ndarray  # (T,)
    discrete: dict  # name -> (runs, T, 2)
    flows: dict  # name -> (T, 2)
    valley: np.ndarray  # (K, 2) points of Γ
    valley_angles: np.ndarray  # (K,)
    trace_h: np.ndarray  # tr H along Γ
    trace_sqrt_diag_h: np.ndarray  # tr Diag(H)^{1/2} along Γ

    def summary(self) -> dict:
        s = self.settings
        final = {f"{name}_final_angle": float(np.mean(ellipse_angle(s, p[:, -1]))) for name, p in self.discrete.items()}
        final.update({f"{name}_flow_final_angle": float(ellipse_angle(s, p[-1])) for name, p in self.flows.items()})
        final.update(start_angle=s.phi0, sgd_target_angle=0.0, adam_target_angle=adam_rest_angle(s),
                     slow_time=s.slow_time, steps=int(round(self.slow_times[-1] / s.eta**2)))
        return final


def compute(small: bool = False, settings: ValleySettings | None = None) -> ValleyResult:
    enable_x64()  # the demo's flows and Hessian traces need float64
    settings = settings or (SMALL if small else FULL)
    model = models.NoisyEllipse(settings.a, settings.b)
    problem = model.problem()
    theta0 = model.point_on_manifold(settings.phi0)
    slow_times, discrete = run_discrete(settings, problem, theta0)
    flows = {name: run_slow_flow(settings, problem.loss, theta0, name) for name in ("sgd", "adam")}
    angles = np.linspace(-np.pi, np.pi, 361)
    points = jax.vmap(model.point_on_manifold)(jnp.asarray(angles))
    diag_h = np.asarray(jax.vmap(problem.gauss_newton_diagonal)(points))  # diag H on Γ
    return ValleyResult(
        settings, slow_times, discrete, flows, np.asarray(points), angles,
        np.asarray(diag_power_trace(diag_h, 1.0)), np.asarray(diag_power_trace(diag_h, 0.5)),
    )


# ----------------------------------------------------------------------------- pictures
LABELS = {"sgd": "label-noise GD", "adam": "Adam (no bias corr.)"}


def _draw_valley(ax, result: ValleyResult, zoom: bool = False):
    s = result.settings
    ax.plot(result.valley[:, 0], result.valley[:, 1], color="0.75", lw=6, zorder=0, label=r"valley $\Gamma$")
    targets = {"sgd": 0.0, "adam": adam_rest_angle(s)}
    model = models.NoisyEllipse(s.a, s.b)
    for name, phi in targets.items():
        p = np.asarray(model.point_on_manifold(phi))
        ax.plot(*p, marker="*", ms=14, color=COLORS[name], mec="k", zorder=5)
    start = result.discrete["sgd"][0, 0]
    ax.plot(*start, "ko", ms=6, zorder=5, label="start")
    ax.set_aspect("equal")
    if zoom:  # the arc the paths travel on
        ax.set_xlim(-0.45, 0.95)
        ax.set_ylim(0.2, 0.95)
    else:
        ax.set_xlim(-0.95, 0.95)
        ax.set_ylim(-0.95, 0.95)
    ax.set_xlabel(r"$\theta_0$")
    ax.set_ylabel(r"$\theta_1$")


def plot_still(result: ValleyResult):
    s = result.settings
    fig, (ax, ax_t, ax_r) = new_figure(13, 4.4, ncols=3)
    _draw_valley(ax, result)
    for name in ("sgd", "adam"):
        for k, path in enumerate(result.discrete[name]):
            ax.plot(path[:, 0], path[:, 1], color=COLORS[name], lw=1, alpha=0.6,
                    label=f"{LABELS[name]} (discrete)" if k == 0 else None)
        flow = result.flows[name]
        ax.plot(flow[:, 0], flow[:, 1], "--", color="k", lw=1.2, label="slow flows" if name == "sgd" else None)
    ax.legend(loc="lower right", fontsize=7)
    ax.set_title("(a) paths in the plane (stars: predicted ends)", fontsize=9)

    for name in ("sgd", "adam"):
        phis = ellipse_angle(s, result.discrete[name])
        for k, phi in enumerate(phis):
            ax_t.plot(result.slow_times, phi, color=COLORS[name], lw=1, alpha=0.6,
                      label=LABELS[name] if k == 0 else None)
        ax_t.plot(result.slow_times, ellipse_angle(s, result.flows[name]), "--", color="k", lw=1.2,
                  label="slow flow" if name == "sgd" else None)
    adam_end = adam_rest_angle(s)
    ax_t.axhline(0.0, color=COLORS["sgd"], ls=":", lw=1, gid="reference:sgd", label=r"SGD's end, min tr $H$: $\varphi$ = 0")
    ax_t.axhline(adam_end, color=COLORS["adam"], ls=":", lw=1, gid="reference:adam",
                 label=rf"Adam's rest, $\tan\varphi=b/a$: $\varphi$ = {adam_end:.2f}")
    ax_t.set_xlabel(r"slow time $t=\eta^2 k$")
    ax_t.set_ylabel(r"angle $\varphi$ along $\Gamma$ (rad)")
    ax_t.legend(fontsize=7)
    ax_t.set_title(f"(b) drift along Γ (η = {s.eta:g}, {int(round(s.slow_time / s.eta**2))} steps)", fontsize=9)

    keep = (result.valley_angles >= 0) & (result.valley_angles <= np.pi / 2)
    phi = result.valley_angles[keep]
    for name, values, label in (("sgd", result.trace_h, r"tr $H$"),
                                ("adam", result.trace_sqrt_diag_h, r"tr Diag$(H)^{1/2}$")):
        v = values[keep]
        ax_r.plot(phi, v / v.min(), color=COLORS[name], lw=2, label=f"{label} / its minimum")
    ax_r.axvline(0.0, color=COLORS["sgd"], ls=":", lw=1, gid="reference:sgd", label=r"SGD's end: $\varphi$ = 0")
    ax_r.axvline(adam_end, color=COLORS["adam"], ls=":", lw=1, gid="reference:adam",
                 label=rf"Adam's rest: $\varphi$ = {adam_end:.2f}")
    ax_r.axvline(s.phi0, color="k", ls=":", lw=1, gid="reference:start", label=rf"start: $\varphi$ = {s.phi0:.2f}")
    ax_r.set_xlabel(r"angle $\varphi$ along $\Gamma$ (rad)")
    ax_r.set_ylabel("regularizer / its minimum on Γ")
    ax_r.set_title("(c) the two implicit regularizers along Γ", fontsize=9)
    ax_r.legend(fontsize=7)
    fig.suptitle(TITLE + "\n" + EQUATION, fontsize=10)
    return fig


def save_animation(result: ValleyResult, path: Path, fps: int = 12, dpi: int = 70) -> Path:
    """GIF of the discrete paths (first run of each) and the slow flows in the plane."""
    fig, ax = new_figure(4.6, 3.0, layout=None)
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.15, top=0.9)
    _draw_valley(ax, result, zoom=True)
    trails, heads = {}, {}
    for name in ("sgd", "adam"):
        (trails[name],) = ax.plot([], [], color=COLORS[name], lw=1.5, label=LABELS[name])
        (heads[name],) = ax.plot([], [], "o", color=COLORS[name], ms=7, mec="k")
        (heads[name + "_flow"],) = ax.plot([], [], "s", mfc="none", mec="k", ms=9)
    ax.legend(loc="lower right", fontsize=6)
    title = ax.set_title("", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, str(path), dpi=dpi):
        for i, t in enumerate(result.slow_times):
            for name in ("sgd", "adam"):
                p = result.discrete[name][0]
                trails[name].set_data(p[: i + 1, 0], p[: i + 1, 1])
                heads[name].set_data([p[i, 0]], [p[i, 1]])
                f = result.flows[name]
                heads[name + "_flow"].set_data([f[i, 0]], [f[i, 1]])
            title.set_text(f"slow time t = {t:.2f}  (squares: slow flows)")
            writer.grab_frame()
        for _ in range(fps // 2):  # hold the last frame for half a second
            writer.grab_frame()
    return path


def run(out_dir: Path, small: bool = False) -> list[Path]:
    enable_x64()  # the flows, projections and Hessian traces need float64
    result = compute(small)
    still, summary = write_still_and_summary(plot_still(result), result, out_dir, "valley")
    return [still, save_animation(result, Path(out_dir) / "valley.gif"), summary]
