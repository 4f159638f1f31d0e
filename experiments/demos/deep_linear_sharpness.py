r"""Sharpness on a deep linear network (matrix sensing): label-noise SGD lowers tr H, Adam lowers tr Diag(H)^{1/2}.

A two-layer linear network P = W₂W₁ is fitted to n Gaussian measurements y_k = ⟨A_k, M*⟩ of a
rank-one 5×5 matrix M* (Li–Wen–Lyu 2025 §6, after Gatmiry et al. 2023). With fewer
measurements than entries there is a whole manifold Γ of interpolating factorizations. We first
run plain gradient descent to a point of Γ, then continue from there with label noise (fresh
Gaussian noise of size δ on every label, every step) using either gradient descent or Adam
(1 − β₂ = c₂η², no bias correction). On the slow time scale both drift along Γ, but towards
different regularizers: SGD follows −(c/4)P_∥∇tr H, Adam stops where ∇_Γ tr Diag(H)^{1/2} = 0.
The sharpness measures and the test error ‖P − M*‖_F² are read at the projection of the iterate
onto Γ (the point the slow dynamics describe). Li–Wen–Lyu report that at scale Adam's test error
ends worse because tr H, not tr Diag(H)^{1/2}, favours low rank; in this tiny instance both reach
the rank-one truth, and the difference shows in the two sharpness measures: Adam ends with a much
smaller tr Diag(H)^{1/2} (it uses the rescaling symmetry W₂G⁻¹, GW₁ of the factorization to make
the diagonal of H sparse) and a tr H no smaller than SGD's.

    SGD: dζ/dt = −(c/4) P_∥ ∇ tr H          Adam: ∇_Γ tr Diag(H)^{1/2} = 0 at rest
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab import models
from implicit_bias_lab.experiments.demos.common import COLORS, new_figure, write_still_and_summary
from implicit_bias_lab.models.metrics import standard_metrics
from implicit_bias_lab.sde import manifold as mf
from implicit_bias_lab.sde.discrete import AdaptiveState, adaptive, sgd, simulate_runs
from implicit_bias_lab.sde.noise import LabelNoise, NoNoise
from implicit_bias_lab.precision import enable_x64

DESCRIPTION = "2-layer linear net / matrix sensing: label-noise SGD lowers tr H, Adam lowers tr Diag(H)^1/2"
TITLE = r"Deep linear net: label-noise SGD lowers tr $H$, Adam lowers tr Diag$(H)^{1/2}$"
EQUATION = (
    r"SGD: $\dot\zeta=-\frac{c}{4}P_\parallel\nabla\mathrm{tr}H$"
    r"$\qquad$Adam: rest at $\nabla_\Gamma\mathrm{tr}\,\mathrm{Diag}(H)^{1/2}=0$"
    r"$\qquad P=W_2W_1,\ y_k=\langle A_k,M^*\rangle+\mathrm{noise}$"
)


@dataclass(frozen=True)
class DeepLinearSettings:
    size: int = 5  # M* is size × size
    width: int = 5  # hidden width
    rank: int = 1
    n: int = 15  # measurements
    init_scale: float = 1.0
    gd_learning_rate: float = 0.02
    gd_steps: int = 10_000
    delta: float = 3.0  # Gaussian label noise (c = δ²/n)
    sgd_learning_rate: float = 0.01
    adam_learning_rate: float = 0.008
    c2: float = 20.0  # Adam: 1 − β₂ = c₂η²
    beta1: float = 0.9
    eps: float = 1e-8
    num_steps: int = 60_000
    num_logs: int = 60
    runs: int = 2
    seed: int = 0


FULL = DeepLinearSettings()
SMALL = DeepLinearSettings(gd_steps=4000, num_steps=12_000, num_logs=12, runs=1)


def on_manifold(metric):
    """Evaluate `metric(problem, θ)` at the Gauss–Newton projection of θ onto Γ."""
    return lambda problem, theta: metric(problem, mf.retract_to_manifold(problem, theta, num_iters=3))


@dataclass
class DeepLinearResult:
    settings: DeepLinearSettings
    steps: np.ndarray
    logs: dict  # "sgd"/"adam" -> metric name -> (runs, T)
    singular_values: dict  # "start"/"sgd"/"adam" -> singular values of P at the end
    truth_singular_values: np.ndarray

    def final(self, name: str, metric: str) -> float:
        return float(np.mean(self.logs[name][metric][:, -1]))

    def summary(self) -> dict:
        out = {f"{name}_final_{metric}": self.final(name, metric)
               for name in ("sgd", "adam") for metric in ("trace_hessian", "trace_sqrt_diag_hessian", "test_error")}
        out.update(start_trace_hessian=float(self.logs["sgd"]["trace_hessian"][0, 0]),
                   start_trace_sqrt_diag_hessian=float(self.logs["sgd"]["trace_sqrt_diag_hessian"][0, 0]),
                   start_test_error=float(self.logs["sgd"]["test_error"][0, 0]))
        return out


def compute(small: bool = False, settings: DeepLinearSettings | None = None) -> DeepLinearResult:
    enable_x64()  # the demo's flows and Hessian traces need float64
    s = settings or (SMALL if small else FULL)
    net = models.DeepLinearNet((s.size, s.width, s.size))
    A, y, M_star = models.matrix_sensing_data(jax.random.PRNGKey(s.seed), s.n, s.size, s.size, s.rank)
    problem = models.SquaredLossProblem(net, A, y)

    def test_error(theta):
        return jnp.sum((net.product(theta) - M_star) ** 2)

    # 1. plain GD to a point of Γ (then an exact projection onto Γ)
    theta_init = net.initial_params(jax.random.PRNGKey(s.seed + 1), s.init_scale)
    gd = simulate_runs(problem, NoNoise(), sgd(s.gd_learning_rate), theta_init[None], jax.random.PRNGKey(0)[None],
                       num_steps=s.gd_steps, log_every=s.gd_steps, block_size=1)
    theta_gamma = mf.retract_to_manifold(problem, gd.theta[0])

    # 2. from there: label-noise GD and label-noise Adam; the iterates are logged and measured
    #    afterwards (one compiled measurement for both optimizers)
    noise = LabelNoise(s.delta, distribution="gaussian")
    c = noise.label_noise_constant(problem)
    keys = jax.random.split(jax.random.PRNGKey(s.seed + 2), s.runs)
    theta0 = jnp.tile(theta_gamma, (s.runs, 1))
    log_every = s.num_steps // s.num_logs
    run = dict(num_steps=log_every * s.num_logs, log_every=log_every, metrics={"theta": lambda p, th: th},
               block_size=s.runs)
    sims = {"sgd": simulate_runs(problem, noise, sgd(s.sgd_learning_rate), theta0, keys, **run)}
    adam = adaptive(s.adam_learning_rate, s.beta1, 1 - s.c2 * s.adam_learning_rate**2, s.eps, bias_correction=False)
    v0 = c * problem.gauss_newton_diagonal(theta_gamma)
    state0 = AdaptiveState(jnp.zeros((s.runs,), jnp.int32), jnp.zeros_like(theta0), jnp.tile(v0, (s.runs, 1)))
    sims["adam"] = simulate_runs(problem, noise, adam, theta0, keys, opt_state0=state0, **run)

    metrics = {k: on_manifold(f) for k, f in standard_metrics(test_error, distance=False).items()}
    metrics["test_error"] = metrics.pop("test_loss")
    measure = jax.jit(jax.vmap(lambda th: {k: f(problem, th) for k, f in metrics.items()}))
    logs = {}
    for name, sim in sims.items():
        thetas = sim.logs["theta"]  # (runs, T, D)
        flat = measure(thetas.reshape(-1, thetas.shape[-1]))
        logs[name] = {k: np.asarray(v).reshape(thetas.shape[:2]) for k, v in flat.items()}

    def singular_values(theta):
        return np.linalg.svd(np.asarray(net.product(mf.retract_to_manifold(problem, theta))), compute_uv=False)

    return DeepLinearResult(
        s, np.asarray(sims["sgd"].log_steps[0]),
        logs,
        {"start": singular_values(theta_gamma), **{name: singular_values(sim.theta[0]) for name, sim in sims.items()}},
        np.linalg.svd(np.asarray(M_star), compute_uv=False),
    )


LABELS = {"sgd": "label-noise GD", "adam": "label-noise Adam"}


def plot_still(result: DeepLinearResult):
    s = result.settings
    fig, axes = new_figure(15, 4.0, ncols=4)
    panels = (("trace_hessian", r"tr $H$  (SGD's regularizer)", r"tr $H$"),
              ("trace_sqrt_diag_hessian", r"tr Diag$(H)^{1/2}$  (Adam's regularizer)", r"tr Diag$(H)^{1/2}$"),
              ("test_error", r"test error $\|P-M^*\|_F^2$", r"$\|P-M^*\|_F^2$"))
    for ax, (metric, title, ylabel) in zip(axes, panels):
        for name in ("sgd", "adam"):
            for k, curve in enumerate(result.logs[name][metric]):
                ax.plot(result.steps, curve, color=COLORS[name], lw=1.5, alpha=0.8, label=LABELS[name] if k == 0 else None)
        ax.set_xlabel("step k")
        ax.set_ylabel(ylabel + " (projected onto Γ)")
        ax.set_title(title, fontsize=9)
        if metric == "test_error":
            ax.set_yscale("symlog", linthresh=1e-3)
        ax.legend(fontsize=7)
    ax = axes[3]
    idx = np.arange(1, s.size + 1)
    width = 0.2
    for offset, (name, color, label) in zip((-1.5, -0.5, 0.5, 1.5), (
            ("start", COLORS["gd"], "start (GD on Γ)"), ("sgd", COLORS["sgd"], LABELS["sgd"]),
            ("adam", COLORS["adam"], LABELS["adam"]), ("truth", COLORS["truth"], r"$M^*$"))):
        values = result.truth_singular_values if name == "truth" else result.singular_values[name]
        ax.bar(idx + offset * width, values, width, color=color, label=label)
    ax.set_xlabel("index")
    ax.set_ylabel("singular value")
    ax.set_title(r"singular values of $P=W_2W_1$ at the end", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle(TITLE + f"   (n = {s.n} measurements of a rank-{s.rank} {s.size}×{s.size} matrix, δ = {s.delta:g})\n"
                 + EQUATION, fontsize=10)
    return fig


def run(out_dir: Path, small: bool = False) -> list[Path]:
    enable_x64()  # the flows, projections and Hessian traces need float64
    result = compute(small)
    return write_still_and_summary(plot_still(result), result, out_dir, "deep-linear-sharpness")