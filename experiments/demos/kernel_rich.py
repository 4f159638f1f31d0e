r"""Kernel against rich regime: what gradient descent on a diagonal net recovers, as its initial scale α changes.

A diagonal linear network predicts ⟨w, x⟩ with w = u⊙u − v⊙v. With fewer samples than
unknowns (n < d) the data Xw = y have infinitely many solutions, and which one gradient descent
returns is decided by the initialization u = v = α·1 alone. Woodworth et al. (COLT 2020) showed
that gradient flow returns the interpolant of smallest "hypentropy" potential
Q_α(w) = α² Σ_i q(w_i/α²), q(z) = 2 − √(4 + z²) + z·arcsinh(z/2): a large α makes Q_α ≈ ‖w‖²/(4α²),
so GD acts like a kernel method and returns the minimum-ℓ2 interpolant (dense, wrong); a small α
makes Q_α ≈ ‖w‖₁·log(1/α²), the "rich" regime, and GD returns the basis-pursuit (minimum-ℓ1)
solution, which recovers the sparse truth w*. The change is logarithmically slow in α. The
demo runs GD from a range of α, draws the ℓ2 and ℓ1 solutions (scipy's linprog), and the
exact gradient-flow prediction w(α) = 2α² sinh(Xᵀν) with ν solving X w(α) = y.

    w_GD(α) = argmin_{Xw=y} Σ_i α² q(w_i/α²):   α → ∞: min ‖w‖₂,   α → 0: min ‖w‖₁
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from implicit_bias_lab import models
from implicit_bias_lab.experiments.demos.common import COLORS, new_figure, write_still_and_summary
from implicit_bias_lab.experiments.reference_solvers import min_l2_interpolant, weighted_l1_interpolant
from implicit_bias_lab.models.sparse_regression import make_sparse_regression
from implicit_bias_lab.sde.discrete import sgd, simulate_runs
from implicit_bias_lab.sde.noise import NoNoise
from implicit_bias_lab.precision import enable_x64

DESCRIPTION = "diagonal net: GD from init scale α moves from the min-ℓ2 (kernel) to the min-ℓ1 (rich) solution"
TITLE = r"Initialization scale decides the implicit bias: large $\alpha$ → min-$\ell_2$ (kernel), small $\alpha$ → min-$\ell_1$ (rich)"
EQUATION = (
    r"$w_{\rm GD}(\alpha)=\arg\min_{Xw=y}\ \sum_i\alpha^2 q(w_i/\alpha^2),\quad "
    r"q(z)=2-\sqrt{4+z^2}+z\,\mathrm{arcsinh}(z/2)\qquad(w=u\odot u-v\odot v,\ u_0=v_0=\alpha\mathbf{1})$"
)


@dataclass(frozen=True)
class KernelRichSettings:
    n: int = 20  # samples
    d: int = 40  # unknowns
    kappa: int = 3  # non-zeros of w*
    alphas: tuple = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0)
    num_steps: int = 20_000
    base_learning_rate: float = 0.02  # for α ≤ 1; smaller for large α (curvature ∝ α²)
    num_curve: int = 40  # α values on the gradient-flow prediction curve
    seed: int = 3


FULL = KernelRichSettings()
SMALL = KernelRichSettings(n=10, d=20, kappa=2, alphas=(1e-3, 0.1, 1.0, 10.0), num_steps=4000, num_curve=10)


def learning_rate(settings: KernelRichSettings, alpha: float, X: np.ndarray) -> float:
    """Stable step: the Hessian at u = v = α·1 has λ_max = 8α²λ_max(XᵀX/n)."""
    lam = np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1]
    return min(settings.base_learning_rate, 0.5 / (8 * alpha**2 * lam))


def gradient_flow_prediction(X: np.ndarray, y: np.ndarray, alphas) -> np.ndarray:
    """Woodworth et al.'s limit of gradient flow from u = v = α·1: w = 2α² sinh(Xᵀν), where ν
    minimizes the convex dual 2α² Σ cosh(Xᵀν) − yᵀν (then Xw = y). Warm-started from large α."""
    out = {}
    nu = np.zeros(X.shape[0])
    for alpha in sorted(alphas, reverse=True):
        a2 = 2 * alpha**2

        def dual(nu):
            z = X.T @ nu
            return a2 * np.sum(np.cosh(z)) - y @ nu, X @ (a2 * np.sinh(z)) - y

        def hess(nu):
            return (X * (a2 * np.cosh(X.T @ nu))) @ X.T

        res = minimize(dual, nu, jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-10})
        nu = res.x
        out[alpha] = a2 * np.sinh(X.T @ nu)
    return np.stack([out[a] for a in alphas])


@dataclass
class KernelRichResult:
    settings: KernelRichSettings
    X: np.ndarray
    y: np.ndarray
    w_star: np.ndarray
    w_l1: np.ndarray
    w_l2: np.ndarray
    w_gd: np.ndarray  # (len(alphas), d)
    train_loss: np.ndarray  # final train loss per α
    curve_alphas: np.ndarray
    w_curve: np.ndarray  # gradient-flow prediction along curve_alphas

    def distances(self, w):
        return np.linalg.norm(w - self.w_l1, axis=-1), np.linalg.norm(w - self.w_l2, axis=-1)

    def summary(self) -> dict:
        to_l1, to_l2 = self.distances(self.w_gd)
        pred = gradient_flow_prediction(self.X, self.y, self.settings.alphas)
        return {
            "alphas": list(self.settings.alphas),
            "distance_to_l1": to_l1.tolist(),
            "distance_to_l2": to_l2.tolist(),
            "test_loss": (0.5 * np.sum((self.w_gd - self.w_star) ** 2, axis=-1)).tolist(),
            "final_train_loss": self.train_loss.tolist(),
            "max_distance_to_flow_prediction": float(np.max(np.linalg.norm(self.w_gd - pred, axis=-1))),
            "l1_equals_truth": bool(np.allclose(self.w_l1, self.w_star, atol=1e-6)),
        }


def compute(small: bool = False, settings: KernelRichSettings | None = None) -> KernelRichResult:
    enable_x64()  # the demo's flows and Hessian traces need float64
    settings = settings or (SMALL if small else FULL)
    data = make_sparse_regression(jax.random.PRNGKey(settings.seed), settings.n, settings.d, settings.kappa,
                                  design="gaussian", magnitudes="equal")
    X, y = np.asarray(data.X), np.asarray(data.y)
    net = models.DiagonalNet(settings.d)
    problem = models.SquaredLossProblem(net, data.X, data.y)
    alphas = np.asarray(settings.alphas)
    theta0 = jnp.stack([net.initial_params(a) for a in alphas])
    rates = jnp.asarray([learning_rate(settings, a, X) for a in alphas])
    sim = simulate_runs(problem, NoNoise(), sgd, theta0, jax.random.split(jax.random.PRNGKey(0), len(alphas)),
                        num_steps=settings.num_steps, log_every=settings.num_steps,
                        metrics={"train_loss": lambda p, th: p.loss(th)},
                        hyperparameters={"learning_rate": rates}, block_size=len(alphas))
    w_gd = np.asarray(net.effective_weights(sim.theta))
    curve_alphas = np.geomspace(alphas.min(), alphas.max(), settings.num_curve)
    return KernelRichResult(
        settings, X, y, np.asarray(data.w_star), weighted_l1_interpolant(X, y), min_l2_interpolant(X, y),
        w_gd, np.asarray(sim.logs["train_loss"][:, -1]), curve_alphas, gradient_flow_prediction(X, y, curve_alphas),
    )


def plot_still(result: KernelRichResult):
    s = result.settings
    fig, (ax_w, ax_d) = new_figure(12, 4.3, ncols=2, gridspec_kw={"width_ratios": [1.4, 1]})
    idx = np.arange(s.d)
    ax_w.plot(idx, result.w_l2, "-", color=COLORS["l2"], lw=2, alpha=0.7, label=r"min-$\ell_2$ interpolant (kernel)")
    ax_w.plot(idx, result.w_l1, "-", color=COLORS["l1"], lw=2, alpha=0.7, label=r"min-$\ell_1$ (basis pursuit, linprog)")
    support = result.w_star != 0
    ax_w.plot(idx[support], result.w_star[support], "k*", ms=10, label=r"truth $w^*$ (0 elsewhere)")
    picks = sorted({0, len(s.alphas) // 2, len(s.alphas) - 1})  # distinct: 1 or 2 α draw each once
    markers = ["o", "s", "^"]
    for k, m in zip(picks, markers):
        ax_w.plot(idx, result.w_gd[k], m, mfc="none", ms=6, color="0.25" if k != picks[0] else COLORS["adam"],
                  label=rf"GD, $\alpha$ = {s.alphas[k]:g}")
    ax_w.axhline(0, color="0.8", lw=0.8)
    ax_w.set_xlabel("coordinate $i$")
    ax_w.set_ylabel("$w_i$ at convergence")
    low, high = ax_w.get_ylim()
    ax_w.set_ylim(low - 0.45 * (high - low), high)  # room for the legend below the data
    ax_w.legend(fontsize=7, ncol=3, loc="lower center")
    ax_w.set_title(f"(a) recovered w (n = {s.n} samples, d = {s.d}, {s.kappa}-sparse truth)", fontsize=9)

    to_l1, to_l2 = result.distances(result.w_gd)
    c_l1, c_l2 = result.distances(result.w_curve)
    ax_d.plot(result.curve_alphas, c_l1, "-", color=COLORS["l1"], lw=1.5, label=r"gradient-flow limit: to $\ell_1$")
    ax_d.plot(result.curve_alphas, c_l2, "-", color=COLORS["l2"], lw=1.5, label=r"gradient-flow limit: to $\ell_2$")
    ax_d.plot(s.alphas, to_l1, "o", color=COLORS["l1"], label=r"GD: $\|w-w_{\ell_1}\|$")
    ax_d.plot(s.alphas, to_l2, "s", color=COLORS["l2"], label=r"GD: $\|w-w_{\ell_2}\|$")
    ax_d.set_xscale("log")
    ax_d.set_xlabel(r"initialization scale $\alpha$")
    ax_d.set_ylabel("distance")
    ax_d.legend(fontsize=7)
    ax_d.set_title("(b) rich (left) to kernel (right)", fontsize=9)
    fig.suptitle(TITLE + "\n" + EQUATION, fontsize=10)
    return fig


def run(out_dir: Path, small: bool = False) -> list[Path]:
    enable_x64()  # the flows, projections and Hessian traces need float64
    result = compute(small)
    return write_still_and_summary(plot_still(result), result, out_dir, "kernel-rich")