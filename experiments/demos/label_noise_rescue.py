r"""Label noise rescues gradient descent from the kernel regime (sparse regression on a diagonal net).

Started at a large scale u = v = α·1, gradient descent on the diagonal net w = u⊙u − v⊙v fits
the n < d samples quickly but lands near the dense minimum-ℓ2 interpolant (the kernel regime,
see the `kernel-rich` demo) and then stops: its test loss ½‖w − w*‖² stays high for ever. Add
fresh label noise of size δ to every label at every step and nothing changes on the fast time
scale, but on the slow time scale t = η²k the iterate drifts along the manifold Γ = {Xw = y} of
interpolants following dζ/dt = −(c/4) P_∥ ∇tr H with c = δ²/n (Li, Wang, Arora 2022). On a
diagonal net tr H = 4 Σ_i m_i (u_i² + v_i²), so the drift shrinks the off-support weights like
e^{−2ct} and ends at the weighted-ℓ1 interpolant, which recovers the sparse truth w*. The step
budget is therefore set in slow time: a few units of 1/(2cη²) steps.

    dζ/dt = −(c/4) P_∥ ∇tr H(ζ),  c = δ²/n,  t = η²k;  diagonal net: θ̇ = −2c P_∥(m⊙u, m⊙v)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab import models
from implicit_bias_lab.experiments.demos.common import COLORS, new_figure, rk4_path, write_still_and_summary
from implicit_bias_lab.experiments.reference_solvers import min_l2_interpolant, weighted_l1_interpolant
from implicit_bias_lab.models.sparse_regression import make_sparse_regression, population_test_loss
from implicit_bias_lab.sde import manifold as mf
from implicit_bias_lab.sde import slow_diagonal
from implicit_bias_lab.sde.discrete import sgd, simulate_runs
from implicit_bias_lab.sde.noise import LabelNoise, NoNoise
from implicit_bias_lab.precision import enable_x64

DESCRIPTION = "diagonal net from a large init: GD stays at the dense solution, label-noise GD recovers the sparse truth"
TITLE = r"Label noise rescues GD from the kernel regime: slow drift along $\Gamma$ towards the sparse $w^*$"
EQUATION = (
    r"$\frac{d\zeta}{dt}=-\frac{c}{4}P_\parallel\nabla\mathrm{tr}\,H(\zeta),\quad c=\delta^2/n,\quad t=\eta^2k"
    r"\qquad\mathrm{tr}\,H=4\sum_i m_i(u_i^2+v_i^2)$"
)


@dataclass(frozen=True)
class RescueSettings:
    n: int = 20
    d: int = 40
    kappa: int = 3
    alpha: float = 1.0  # initialization u = v = α·1 (kernel-ish)
    delta: float = 1.5  # label noise ±δ on every label, every step (c = δ²/n)
    eta: float = 0.03
    decay_units: float = 8.0  # run for decay_units / (2cη²) steps (off-support weights ~ e^{−2ct})
    runs: int = 4
    num_logs: int = 80
    num_flow_points: int = 40
    flow_dt: float = 0.05  # RK4 step of the slow flow (slow time)
    seed: int = 1


FULL = RescueSettings()
SMALL = RescueSettings(n=12, d=20, kappa=2, decay_units=3.0, runs=2, num_logs=20, num_flow_points=10)


def label_noise_constant(settings: RescueSettings) -> float:
    """c = δ²/n for full-batch label-noise GD (docs/theory.md#1-conventions)."""
    return settings.delta**2 / settings.n


def step_budget(settings: RescueSettings) -> tuple[int, int]:
    """(num_steps, log_every) with num_steps ≈ decay_units/(2cη²)."""
    steps = settings.decay_units / (2 * label_noise_constant(settings) * settings.eta**2)
    log_every = max(1, int(steps) // settings.num_logs)
    return log_every * settings.num_logs, log_every


@dataclass
class RescueResult:
    settings: RescueSettings
    steps: np.ndarray  # logged steps
    test_loss: dict  # "gd" / "label_noise" -> (runs, T)
    projected_test_loss: dict  # the same at the projection of the iterate onto Γ
    w_final: dict  # -> (runs, d)
    w_star: np.ndarray
    w_l1: np.ndarray
    w_l2: np.ndarray
    flow_steps: np.ndarray  # slow-flow prediction, in steps t/η²
    flow_test_loss: np.ndarray

    def summary(self) -> dict:
        return {
            "num_steps": int(self.steps[-1]),
            "slow_time": float(self.steps[-1] * self.settings.eta**2),
            "label_noise_constant": label_noise_constant(self.settings),
            "final_test_loss_gd": float(np.mean(self.test_loss["gd"][:, -1])),
            "final_test_loss_label_noise": float(np.mean(self.test_loss["label_noise"][:, -1])),
            "final_test_loss_label_noise_on_manifold": float(np.mean(self.projected_test_loss["label_noise"][:, -1])),
            "final_test_loss_slow_flow": float(self.flow_test_loss[-1]),
            "test_loss_min_l2": float(population_test_loss(self.w_l2, self.w_star)),
            "test_loss_weighted_l1": float(population_test_loss(self.w_l1, self.w_star)),
        }


def compute(small: bool = False, settings: RescueSettings | None = None) -> RescueResult:
    enable_x64()  # the demo's flows and Hessian traces need float64
    s = settings or (SMALL if small else FULL)
    data = make_sparse_regression(jax.random.PRNGKey(s.seed), s.n, s.d, s.kappa,
                                  design="rademacher", magnitudes="equal")
    net = models.DiagonalNet(s.d)
    problem = models.SquaredLossProblem(net, data.X, data.y)
    num_steps, log_every = step_budget(s)
    schedule = dict(num_steps=num_steps, log_every=log_every, metrics={"theta": lambda p, th: th})
    init = net.initial_params(s.alpha)
    # plain GD is deterministic: one run
    gd = simulate_runs(problem, NoNoise(), sgd(s.eta), init[None], jax.random.PRNGKey(0)[None],
                       block_size=1, **schedule)
    keys = jax.random.split(jax.random.PRNGKey(0), s.runs)
    noisy = simulate_runs(problem, LabelNoise(s.delta), sgd(s.eta), jnp.tile(init, (s.runs, 1)), keys,
                          block_size=s.runs, **schedule)
    steps = np.asarray(gd.log_steps[0])
    theta_gd = gd.theta[0]  # GD's limit: a point of Γ

    # measured afterwards: the raw iterate fluctuates O(η) around Γ; its projection onto Γ
    # (Gauss–Newton) is what the slow flow describes
    @jax.jit
    @jax.vmap
    def measure(theta):
        on_gamma = mf.retract_to_manifold(problem, theta, num_iters=3)
        return (population_test_loss(net.effective_weights(theta), data.w_star),
                population_test_loss(net.effective_weights(on_gamma), data.w_star))

    sims = {"gd": gd, "label_noise": noisy}
    thetas = jnp.concatenate([sim.logs["theta"] for sim in sims.values()])  # (1 + runs, T, D)
    raw, proj = (np.asarray(a).reshape(thetas.shape[:2]) for a in measure(thetas.reshape(-1, thetas.shape[-1])))
    test_loss = {"gd": raw[:1], "label_noise": raw[1:]}
    projected_loss = {"gd": proj[:1], "label_noise": proj[1:]}
    w_final = {name: np.asarray(net.effective_weights(sim.theta)) for name, sim in sims.items()}

    # the SGD slow flow from GD's limit point (closed-form velocity of `sde.slow_diagonal`, RK4 in slow
    # time t = η²k, Gauss–Newton retraction onto Γ after every step)
    c = label_noise_constant(s)
    t_end = steps[-1] * s.eta**2
    per_log = max(1, int(np.ceil(t_end / s.flow_dt / s.num_flow_points)))
    dt = t_end / (per_log * s.num_flow_points)
    flow = jax.jit(lambda th: rk4_path(
        lambda z: slow_diagonal.sgd_flow_velocity(data.X, z, c), th, dt, per_log, s.num_flow_points,
        lambda z: mf.retract_to_manifold(problem, z, num_iters=2)))(theta_gd)
    flow_loss = np.asarray(population_test_loss(net.effective_weights(flow), data.w_star))
    flow_steps = np.arange(s.num_flow_points + 1) * per_log * dt / s.eta**2
    X, y = np.asarray(data.X), np.asarray(data.y)
    m = np.mean(X * X, axis=0)
    return RescueResult(
        s, steps, test_loss, projected_loss, w_final, np.asarray(data.w_star), weighted_l1_interpolant(X, y, m),
        min_l2_interpolant(X, y), flow_steps, flow_loss,
    )


def plot_still(result: RescueResult):
    s = result.settings
    fig, (ax_l, ax_w) = new_figure(12, 4.3, ncols=2, gridspec_kw={"width_ratios": [1.3, 1]})
    for k, curve in enumerate(result.test_loss["gd"]):
        ax_l.plot(result.steps, curve, color=COLORS["gd"], lw=2.5, label="GD (no noise)" if k == 0 else None)
    for k, (raw, proj) in enumerate(zip(result.test_loss["label_noise"], result.projected_test_loss["label_noise"])):
        ax_l.plot(result.steps, raw, color=COLORS["sgd"], lw=0.8, alpha=0.35,
                  label=rf"label-noise GD ($\delta$ = {s.delta:g}), iterate" if k == 0 else None)
        ax_l.plot(result.steps, proj, color=COLORS["sgd"], lw=1.2,
                  label=r"label-noise GD, iterate projected onto $\Gamma$" if k == 0 else None)
    ax_l.plot(result.flow_steps, result.flow_test_loss, "k--", lw=1.5, label="slow flow from GD's limit")
    l2_loss = float(population_test_loss(result.w_l2, result.w_star))
    ax_l.axhline(l2_loss, color=COLORS["l2"], ls=":", gid="reference:l2",
                 label=rf"min-$\ell_2$ interpolant ({l2_loss:.3g})")
    ax_l.set_yscale("log")
    ax_l.set_xlabel(f"step k   (η = {s.eta:g};  1/(2cη²) = {1 / (2 * label_noise_constant(s) * s.eta**2):.0f} steps)")
    ax_l.set_ylabel(r"test loss $\frac{1}{2}\|w-w^*\|^2$")
    ax_l.legend(fontsize=7, loc="lower left")
    ax_l.set_title(f"(a) recovery against steps (α = {s.alpha:g}, n = {s.n}, d = {s.d})", fontsize=9)

    idx = np.arange(s.d)
    ax_w.plot(idx, result.w_final["gd"][0], "o", mfc="none", color=COLORS["gd"], label="GD")
    ax_w.plot(idx, result.w_final["label_noise"][0], "s", mfc="none", color=COLORS["sgd"], label="label-noise GD")
    support = result.w_star != 0
    ax_w.plot(idx[support], result.w_star[support], "k*", ms=10, label=r"truth $w^*$ (zero elsewhere)")
    ax_w.axhline(0, color="0.8", lw=0.8)
    ax_w.set_xlabel("coordinate $i$")
    ax_w.set_ylabel("final $w_i$")
    ax_w.legend(fontsize=7)
    ax_w.set_title("(b) final weights", fontsize=9)
    fig.suptitle(TITLE + "\n" + EQUATION, fontsize=10)
    return fig


def run(out_dir: Path, small: bool = False) -> list[Path]:
    enable_x64()  # the flows, projections and Hessian traces need float64
    result = compute(small)
    return write_still_and_summary(plot_still(result), result, out_dir, "label-noise-rescue")