"""SGD on a noisy quadratic under LR schedules: exact expected loss, Monte Carlo, the OU limit,
the multi-power law (Luo et al., ICLR 2025) and the stationary state at constant LR.

docs/theory.md#87-sgd-on-quadratics-under-schedules: the exact second-moment recursion (diagonal in H's eigenbasis) for constant,
cosine, step, WSD and two-stage schedules, checked against Monte-Carlo SGD and against the exact
moments of the first-order SDE; the Abel-summation ("multi-power-law-shaped") rewrite and the
Gamma-spectrum identity; a 7-parameter multi-power-law fit on some schedules predicting held-out
ones (and a γ = 0 variant); the schedule the fitted law prefers; and the stationary loss of
constant-LR SGD for a non-diagonal H from the discrete Lyapunov equation, vs simulation.

Writes `curves.csv`, `mpl.json`, `summary.json`, PNG figures and `manifest.json`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from implicit_bias_lab.experiments.config import ConfigError, check_choice, check_choices, check_range
from implicit_bias_lab.experiments.io import atomic_write_text, write_manifest
from implicit_bias_lab.experiments.multi_power_law import fit_multi_power_law
from implicit_bias_lab.models.noisy_quadratic import (
    NOISE_SHAPES,
    NoisyQuadratic,
    gamma_noise_kernel,
    gamma_quadratic,
    power_law_quadratic,
    random_quadratic,
)
from implicit_bias_lab.precision import enable_x64
from implicit_bias_lab.sde.closed_form import (
    SCHEDULES,
    expected_loss,
    expected_loss_abel,
    expected_loss_continuous,
    lr_schedule,
    monte_carlo_losses,
    ou_expected_loss,
    simulate_constant_lr,
    stationary_covariance,
)

DESCRIPTION = "SGD on a quadratic under LR schedules: exact loss recursion vs MC/OU, multi-power law, Lyapunov"


@dataclasses.dataclass(frozen=True)
class Config:
    dim: int = 100
    exponent: float = 1.5  # λ_i = i^{−exponent}
    noise: str = "proportional"  # Σ ∝ H, or "isotropic"
    noise_scale: float = 0.5
    init_scale: float = 1.0
    loss_floor: float = 1.0  # L*, an irreducible loss (keeps log-loss fits in the LLM regime)
    num_steps: int = 1000
    peak_lr: float = 0.5  # η_peak·λ_max (λ_max = 1)
    schedules: tuple[str, ...] = ("constant", "cosine", "step", "wsd", "wsd-geometric", "two-stage")
    mc_schedules: tuple[str, ...] = ("cosine", "wsd")
    mc_runs: int = 1000
    log_every: int = 20
    fit_schedules: tuple[str, ...] = ("constant", "cosine", "two-stage")
    heldout_schedules: tuple[str, ...] = ("wsd", "wsd-geometric", "step")
    fit_starts: int = 2
    gamma_shape: float = 0.5  # Gamma noise measure for the identity check
    gamma_dim: int = 60
    lyapunov_dim: int = 8
    lyapunov_lr: float = 0.5  # η·λ_max
    lyapunov_runs: int = 4000
    seed: int = 0

    def __post_init__(self):
        check_range("dim", self.dim, 1)
        check_range("exponent", self.exponent, 0.0, low_open=True)
        check_choice("noise", self.noise, NOISE_SHAPES)
        check_range("noise_scale", self.noise_scale, 0.0)
        check_range("init_scale", self.init_scale, 0.0)
        check_range("loss_floor", self.loss_floor, 0.0)
        check_range("num_steps", self.num_steps, 10)
        check_range("peak_lr", self.peak_lr, 0.0, 2.0, low_open=True, high_open=True)
        for key in ("schedules", "mc_schedules", "fit_schedules", "heldout_schedules"):
            check_choices(key, getattr(self, key), SCHEDULES)
        check_range("mc_runs", self.mc_runs, 2)
        if self.log_every < 1 or self.num_steps % self.log_every:
            raise ConfigError(f"config key 'log_every' must be >= 1 and divide num_steps={self.num_steps}, got {self.log_every}")
        check_range("fit_starts", self.fit_starts, 1)
        check_range("gamma_shape", self.gamma_shape, 0.0, low_open=True)
        check_range("gamma_dim", self.gamma_dim, 2)
        check_range("lyapunov_dim", self.lyapunov_dim, 1)
        check_range("lyapunov_lr", self.lyapunov_lr, 0.0, 2.0, low_open=True, high_open=True)
        check_range("lyapunov_runs", self.lyapunov_runs, 2)


PRESETS = {
    # lab default: small enough for one CPU core.
    "default": {},  # d = 100, T = 1000, 1000 Monte-Carlo runs
    # docs/theory.md#87-sgd-on-quadratics-under-schedules (d = 400, T = 3000, λ_i = i^{-1.5}) with more Monte-Carlo runs; the
    # multi-power-law paper's own runs are LLM pre-training and have no quadratic analogue.
    "paper": {"dim": 400, "num_steps": 3000, "mc_runs": 4000, "log_every": 30, "fit_starts": 6, "lyapunov_runs": 20000},
}


def make_problem(cfg: Config) -> NoisyQuadratic:
    return power_law_quadratic(cfg.dim, cfg.exponent, cfg.noise, cfg.noise_scale, cfg.init_scale, cfg.loss_floor)


def schedule(cfg: Config, name: str, num_steps: int | None = None) -> np.ndarray:
    return lr_schedule(name, num_steps or cfg.num_steps, cfg.peak_lr)


def gamma_identity(cfg: Config) -> dict:
    """LD(T) = L_const(S₁) − L_sched(T) vs (M/4)Σ_{k≥2}(η_{k−1}−η_k)(1 − (1+2θS_k)^{−β}).

    L_const(S₁): constant LR η₁ run for S₁/η₁ (real) steps, by the exact closed form.
    Small ηλ (continuous-time regime): peak η·(mean λ of the measure) = 0.005, and η·λ_max ≤ 1
    so that every quadrature node is stable.
    """
    shape, scale, mass = cfg.gamma_shape, 1.0, 1.0
    prob = gamma_quadratic(cfg.gamma_dim, shape, scale, mass, init_scale=0.0)
    peak = min(0.005 / (shape * scale), 1.0 / float(np.max(prob.eigenvalues)))
    out = {}
    for name in ("cosine", "wsd", "step"):
        etas = lr_schedule(name, cfg.num_steps, peak)
        L_sched = float(expected_loss(prob, jnp.asarray(etas))[-1])
        S1 = etas.sum()
        lam, sig2 = np.asarray(prob.eigenvalues), np.asarray(prob.noise_variances)
        n_const = S1 / etas[0]
        q = (1 - etas[0] * lam) ** 2
        m = etas[0] ** 2 * sig2 * (1 - q**n_const) / (1 - q)
        L_const = 0.5 * float(np.sum(lam * m))
        S = np.cumsum(etas[::-1])[::-1]
        predicted = float(np.sum((etas[:-1] - etas[1:]) * gamma_noise_kernel(S[1:], shape, scale, mass)))
        ld = L_const - L_sched
        out[name] = {"loss_drop": ld, "gamma_formula": predicted, "relative_error": abs(ld / predicted - 1)}
    return out


def lyapunov_check(cfg: Config) -> dict:
    """Stationary loss ½tr(HC) from the discrete Lyapunov equation vs long constant-LR SGD runs."""
    H, S = random_quadratic(cfg.seed, cfg.lyapunov_dim, noise="general")
    eta = cfg.lyapunov_lr / float(np.max(np.linalg.eigvalsh(H)))
    C = stationary_covariance(H, S, eta)
    theory = 0.5 * float(np.trace(H @ C))
    steps = int(math.ceil(30 / (eta * float(np.min(np.linalg.eigvalsh(H))))))  # e^{-60} of the init left
    theta = simulate_constant_lr(jnp.asarray(H), jnp.asarray(np.linalg.cholesky(S)), eta, jax.random.PRNGKey(cfg.seed + 7), cfg.lyapunov_runs, steps)
    losses = 0.5 * np.einsum("ri,ij,rj->r", np.asarray(theta), H, np.asarray(theta))
    mean, se = float(losses.mean()), float(losses.std(ddof=1) / math.sqrt(len(losses)))
    # The loss needs only diag(UᵀΣU) in H's eigenbasis (per-mode formula ησ̃_i²/(λ_i(2−ηλ_i)));
    # the covariance needs the full Lyapunov solution: compare MC with both.
    lam, U = np.linalg.eigh(H)
    diag_only = 0.5 * float(np.sum(eta * np.diag(U.T @ S @ U) / (2 - eta * lam)))
    C_diag = U @ np.diag(eta * np.diag(U.T @ S @ U) / (lam * (2 - eta * lam))) @ U.T
    emp = np.cov(np.asarray(theta).T)
    cov_err = float(np.linalg.norm(emp - C) / np.linalg.norm(C))
    cov_err_diag = float(np.linalg.norm(emp - C_diag) / np.linalg.norm(C))
    return {"eta": eta, "steps": steps, "runs": cfg.lyapunov_runs, "lyapunov_loss": theory, "mc_loss": mean, "mc_se": se,
            "z": (mean - theory) / se, "per_mode_loss_formula": diag_only, "covariance_relative_error": cov_err,
            "covariance_relative_error_if_sigma_diagonal_in_H_basis": cov_err_diag}


def run(config: Config, out_dir) -> dict:
    enable_x64()  # the flows, projections and Hessian traces need float64
    t0 = time.perf_counter()
    cfg = config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prob = make_problem(cfg)
    T = cfg.num_steps
    names = list(dict.fromkeys(cfg.schedules + cfg.mc_schedules + cfg.fit_schedules + cfg.heldout_schedules))
    times = np.arange(0, T + 1, cfg.log_every)

    timings = {}
    curves, checks = {}, {}
    csv_lines = ["schedule,t,eta,exact,ou_sde,mc_mean,mc_se"]
    for i, name in enumerate(names):
        etas = schedule(cfg, name)
        exact = np.asarray(expected_loss(prob, jnp.asarray(etas)))
        ou = np.asarray(ou_expected_loss(prob, jnp.asarray(etas)))
        abel = float(expected_loss_abel(prob, jnp.asarray(etas)))
        cont = float(expected_loss_continuous(prob, jnp.asarray(etas)))
        red = exact[-1] - cfg.loss_floor
        chk = {"abel_minus_recursion": abs(abel - exact[-1]), "ou_relative_error_final": abs(ou[-1] - exact[-1]) / red,
               "continuous_relative_error_final": abs(cont - exact[-1]) / red, "final_loss": float(exact[-1])}
        mc_mean = mc_se = np.full(len(times), np.nan)
        if name in cfg.mc_schedules:
            mc = np.asarray(monte_carlo_losses(prob, jnp.asarray(etas), jax.random.PRNGKey(cfg.seed + i), cfg.mc_runs, cfg.log_every))
            mc_mean, mc_se = mc.mean(0), mc.std(0, ddof=1) / math.sqrt(cfg.mc_runs)
            z = (mc_mean[1:] - exact[times[1:]]) / mc_se[1:]
            chk["mc_max_abs_z"] = float(np.max(np.abs(z)))
        checks[name] = chk
        curves[name] = {"etas": etas, "exact": exact, "ou": ou, "mc_mean": mc_mean, "mc_se": mc_se}
        for j, t in enumerate(times):
            csv_lines.append(f"{name},{t},{etas[max(t - 1, 0)]!r},{exact[t]!r},{ou[t]!r},{mc_mean[j]!r},{mc_se[j]!r}")
    atomic_write_text(out / "curves.csv", "\n".join(csv_lines) + "\n")
    timings["curves_and_monte_carlo"] = time.perf_counter() - t0

    # OU (first-order SDE) error is O(ηλ): same S = ηT with half the step halves the relative
    # error of the noise-driven loss (θ₀ = 0; with a bias part the two errors partly cancel)
    noise_only = NoisyQuadratic(prob.eigenvalues, prob.noise_variances, jnp.zeros(cfg.dim))
    ou_rel = []
    for factor in (1, 2):
        e = lr_schedule("cosine", T * factor, cfg.peak_lr / factor)
        ex = float(expected_loss(noise_only, jnp.asarray(e))[-1])
        ou_rel.append(abs(float(ou_expected_loss(noise_only, jnp.asarray(e))[-1]) - ex) / ex)
    ou_full, ou_half = ou_rel

    # multi-power law: fit on some schedules, predict held-out ones
    t_fit = np.unique(np.clip(np.geomspace(1, T, 40).astype(int), 1, T))
    train = [(curves[n]["etas"], t_fit, curves[n]["exact"][t_fit]) for n in cfg.fit_schedules]
    mpl = {}
    for label, fix in (("free_gamma", None), ("gamma_0", 0.0)):
        law, cost = fit_multi_power_law(train, fix_gamma=fix, starts=cfg.fit_starts, seed=cfg.seed)
        errs = {}
        for n in names:
            pred = law.loss(curves[n]["etas"], t_fit)
            obs = curves[n]["exact"][t_fit]
            late = t_fit >= T // 2
            errs[n] = {"heldout": n not in cfg.fit_schedules,
                       "max_rel_error_loss": float(np.max(np.abs(pred / obs - 1))),
                       "max_rel_error_reducible_late": float(np.max(np.abs((pred - obs) / (obs - cfg.loss_floor))[late])),
                       "final_pred": float(pred[-1]), "final_exact": float(obs[-1])}
        mpl[label] = {"params": law.as_dict(), "cost": cost, "errors": errs, "law": law}

    timings["mpl_fits"] = time.perf_counter() - t0
    # which schedule does the fitted law prefer? named schedules + WSD decay fractions + a free
    # non-increasing schedule (8 geometric pieces), vs the exact quadratic's own ranking
    law = mpl["free_gamma"]["law"]
    candidates = {n: schedule(cfg, n) for n in SCHEDULES}
    for f in (0.1, 0.3, 0.5):
        candidates[f"wsd-{f:g}"] = lr_schedule("wsd", T, cfg.peak_lr, decay_fraction=f)
    ranking = {n: {"mpl_final": float(law.loss(e, [T])[0]), "exact_final": float(expected_loss(prob, jnp.asarray(e))[-1])} for n, e in candidates.items()}

    def free_schedule(z):
        ratios = np.exp(-np.logaddexp(0, z))  # each knot multiplies η by a factor in (0, 1]
        knots = cfg.peak_lr * np.concatenate([[1.0], np.cumprod(ratios)])
        return np.interp(np.arange(T), np.linspace(0, T - 1, len(knots)), knots)

    opt = {}
    for label, objective in (("mpl", lambda e: float(law.loss(e, [T])[0])), ("exact", lambda e: float(expected_loss(prob, jnp.asarray(e))[-1]))):
        sol = scipy.optimize.minimize(lambda z: objective(free_schedule(z)), np.full(8, -3.0), method="Nelder-Mead", options={"maxiter": 300, "xatol": 1e-3, "fatol": 1e-9})
        e = free_schedule(sol.x)
        opt[label] = {"final_loss_exact": float(expected_loss(prob, jnp.asarray(e))[-1]), "knots_over_peak": [float(v) for v in (e[np.linspace(0, T - 1, 9).astype(int)] / cfg.peak_lr)]}

    timings["schedule_optimisation"] = time.perf_counter() - t0
    gamma = gamma_identity(cfg)
    lyap = lyapunov_check(cfg)
    timings["gamma_and_lyapunov"] = time.perf_counter() - t0

    summary = {
        "checks": checks,
        "ou_error_halving_ratio": ou_full / ou_half if ou_half > 0 else None,
        "mpl": {k: {kk: vv for kk, vv in v.items() if kk != "law"} for k, v in mpl.items()},
        "mpl_preferred_named": min(ranking, key=lambda n: ranking[n]["mpl_final"]),
        "exact_preferred_named": min(ranking, key=lambda n: ranking[n]["exact_final"]),
        "schedule_ranking": ranking,
        "optimised_schedule": opt,
        "gamma_identity": gamma,
        "lyapunov": lyap,
    }
    atomic_write_text(out / "mpl.json", json.dumps(summary["mpl"], indent=2))
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2, default=float))
    try:
        from implicit_bias_lab.figures import schedules as F

        figs = F.plot_all(curves, times, mpl, cfg, out)
    except ImportError as err:
        figs = f"skipped: {err}"
    wall = time.perf_counter() - t0
    write_manifest(out, cfg, wall_time_s=wall)
    return {
        "mc_max_abs_z": {n: c["mc_max_abs_z"] for n, c in checks.items() if "mc_max_abs_z" in c},
        "abel_max_abs_diff": max(c["abel_minus_recursion"] for c in checks.values()),
        "ou_rel_error_final": {n: round(c["ou_relative_error_final"], 4) for n, c in checks.items()},
        "ou_error_halving_ratio": summary["ou_error_halving_ratio"],
        "continuous_rel_error_final": {n: round(c["continuous_relative_error_final"], 4) for n, c in checks.items()},
        "mpl_heldout_max_rel_error": {lab: {n: round(e["max_rel_error_loss"], 4) for n, e in v["errors"].items() if e["heldout"]} for lab, v in mpl.items()},
        "mpl_heldout_reducible_error_late": {lab: {n: round(e["max_rel_error_reducible_late"], 4) for n, e in v["errors"].items() if e["heldout"]} for lab, v in mpl.items()},
        "mpl_params": {lab: {k: round(x, 4) for k, x in v["params"].items()} for lab, v in mpl.items()},
        "mpl_preferred_named": summary["mpl_preferred_named"],
        "exact_preferred_named": summary["exact_preferred_named"],
        "optimised_schedule": opt,
        "gamma_identity_rel_error": {n: round(g["relative_error"], 4) for n, g in gamma.items()},
        "lyapunov": {k: lyap[k] for k in ("lyapunov_loss", "mc_loss", "mc_se", "z", "per_mode_loss_formula", "covariance_relative_error", "covariance_relative_error_if_sigma_diagonal_in_H_basis")},
        "figures": [str(p) for p in figs] if isinstance(figs, list) else figs,
        "cumulative_timings_s": {k: round(v, 1) for k, v in timings.items()},
        "wall_time_s": round(wall, 1),
    }
