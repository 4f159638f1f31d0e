"""Discrete optimizers against their label-noise slow flows: error against η (issue 3).

Routes compared (docs/theory.md#3-label-noise, docs/theory.md#43-corrected-adaptive-slow-sde,
docs/theory.md#44-adam-under-label-noise, docs/theory.md#101-label-noise-against-the-sgd-slow-flow (Check C),
docs/theory.md#102-rmsprop-and-adam-against-the-adam-slow-flow (Check D)):

* label-noise GD (full batch, c = σ²/n) and label-noise SGD (batch 1, c = σ²) against the SGD slow
  ODE dζ/dt = −(c/4)P_∥∇tr H (`sde.slow.integrate_slow_flow(optimizer="sgd")`);
* RMSprop / Adam (1 − β₂ = c₂η², no bias correction, ε = 0, v₀ = c·diag H(θ₀)) against the corrected
  Adam slow ODE with v as a state, dζ/dt = −(c/4)∂Φ_S S∇³L[S], dv/dt = c₂(c·diag H − v)
  (`integrate_slow_flow(optimizer="adam", c2=c₂)`), and, beside it, against the paper's printed
  Theorem 5.1, −(c/2) S ∂Φ_S S∇³L[S] (`sde.slow.adam_printed_velocity`, integrated here), which
  the discrete runs must reject.

Models: a diagonal net w = u⊙u − v⊙v with d = 3, n = 2, ±1 data (Checks C/D), and the product toy
L = ½(θ₀θ₁ − 1)² whose Γ = {θ₀θ₁ = 1} is curved (n = 1, so full-batch GD is batch-1 SGD); both start
on Γ. All runs are float64.

For each (case, η) `runs` discrete paths run K = T/η² steps (slow time T = η²K). The end points are
put back on Γ along the optimizer's own projection before averaging: the orthogonal Gauss–Newton
step θ ← θ − Jᵀ(JJᵀ)⁺r for GD/SGD (∂Φ = P_∥) and the oblique step θ ← θ − SJᵀ(JSJᵀ)⁺r for Adam
(∂Φ_S, S = 1/√v with v from the slow ODE at T), i.e. Φ(θ_K) resp. Φ_S(θ_K) to first order, the
quantity of the theorems (LWA; Li–Wen–Lyu Thm 4.1). This removes the O(√(ηc)) normal fluctuation,
which says nothing about the drift but dominates the Monte-Carlo error of the raw end point; the
raw (unprojected) numbers are recorded as well. Reported per (case, η), with Δ_sim the mean
displacement and Δ_ODE the slow flow's:
  rel_err = ‖Δ_sim − Δ_ODE‖/‖Δ_ODE‖,   ratio = ⟨Δ_sim, Δ_ODE⟩/‖Δ_ODE‖²,
with Monte-Carlo standard errors (rel_err: √(tr Cov Δ / runs)/‖Δ_ODE‖, an upper bound on the s.e. of
the norm; ratio: the s.e. of a mean). The fitted slope of log rel_err against log η should be ≈ 1.

All runs of one (model, noise, optimizer family) share one compiled program: they run
max K steps with per-run learning rates (and β's) and log θ every gcd(K) steps, so each η reads its
own end point at its own K. Runners are cached per process by (noise, family, schedule, number of runs);
the slow-flow and projection programs are shared by every size (the tests rely on both).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab.experiments.config import ConfigError, check_choice, check_choices, check_range
from implicit_bias_lab.experiments.io import atomic_write_text, write_manifest, write_netcdf
from implicit_bias_lab.models import DiagonalNet, ProductToy, SquaredLossProblem
from implicit_bias_lab.sde import slow
from implicit_bias_lab.sde.discrete import AdaptiveState, adaptive, sgd
from implicit_bias_lab.sde.discrete.simulate import make_runner
from implicit_bias_lab.sde import manifold as mf
from implicit_bias_lab.sde.noise import LABEL_DISTRIBUTIONS, LabelNoise
from implicit_bias_lab.precision import enable_x64

DESCRIPTION = "Discrete label-noise GD/SGD and RMSprop/Adam against their slow flows: error against η (docs/theory.md#10-reference-numbers)"


@dataclass(frozen=True)
class CaseSpec:
    """One comparison. `family` "sgd" (SGD slow ODE) or "adam" (corrected Adam ODE with v as a state);
    `batch` None = full-batch label noise (c = σ²/n), 1 = batch-1 SGD (c = σ²); `b1` Adam's β₁
    (0 = RMSprop); `C` the tolerance constant: rel.err ≤ Cη + 3 s.e. and |ratio − 1| ≤ Cη + 3 s.e."""

    model: str
    family: str
    batch: int | None
    b1: float
    C: float
    source: str


CASES: dict[str, CaseSpec] = {
    # C: Check C/D constants (raw end points, science tables); in brackets what this module measures
    # with projected end points at the default sizes (rel.err/η over the η grid).
    "gd-diagnet": CaseSpec(
        "diagnet", "sgd", None, 0.0, 4.0,
        "Check C (docs/theory.md#101-label-noise-against-the-sgd-slow-flow): rel.err/η ≈ 3.2, 2.7, 2.6 → 4η [here ≈ 0.83]",
    ),
    "sgd-diagnet": CaseSpec(
        "diagnet", "sgd", 1, 0.0, 12.0,
        "Check C (docs/theory.md#101-label-noise-against-the-sgd-slow-flow): rel.err/η ≈ 11, 8.1, 7.3 → 12η [here ≈ 0.30]",
    ),
    "gd-product": CaseSpec(
        "product", "sgd", None, 0.0, 4.0,
        "ours: n = 1, so GD = batch-1 SGD with c = σ²; Check C's full-batch bound 4η [here ≈ 1.2]",
    ),
    "rmsprop-diagnet": CaseSpec(
        "diagnet", "adam", None, 0.0, 12.0,
        "Check D (docs/theory.md#102-rmsprop-and-adam-against-the-adam-slow-flow): RMSprop rel.err/η ≈ 3.1–5.2; paper_checks c05 ≤ 9.7 → 12η [here ≈ 2.2]",
    ),
    "adam-diagnet": CaseSpec(
        "diagnet", "adam", None, 0.9, 12.0,
        "Check D (docs/theory.md#102-rmsprop-and-adam-against-the-adam-slow-flow): Adam β₁ = 0.9 rel.err/η ≈ 9.9, 10.2, 10 → 12η [here ≈ 6.0, 4.7, 4.6]",
    ),
    "adam-product": CaseSpec(
        "product", "adam", None, 0.9, 12.0,
        "ours: Adam β₁ = 0.9 on the curved toy, Check D's bound 12η [here ≈ 6.2–7.1]",
    ),
}
MODELS_USED = ("diagnet", "product")

# The diagonal net of Checks C/D (d = 3, n = 2, ±1 data; the science notes do not print X or θ₀:
# ours, all |θ_j| in [0.4, 0.9] so Γ is regular along the flow up to T).
DIAGNET_X = ((1.0, -1.0, 1.0), (1.0, 1.0, -1.0))
DIAGNET_THETA0 = (0.9, 0.7, 0.5, 0.4, 0.6, 0.8)


@dataclass(frozen=True)
class Config:
    cases: tuple[str, ...] = tuple(CASES)
    label_noise: float = 1.0
    label_distribution: str = "rademacher"
    sgd_etas: tuple[float, ...] = (0.04, 0.02, 0.01)
    sgd_time: float = 1.0
    sgd_runs: int = 100
    adam_etas: tuple[float, ...] = (0.01, 0.005, 0.0025)
    adam_time: float = 0.1
    adam_runs: int = 400
    adam_c2: float = 20.0
    toy_start: float = 2.0
    compare_printed: bool = True
    seed: int = 0

    def __post_init__(self):
        check_choices("cases", self.cases, tuple(CASES))
        if len(set(self.cases)) != len(self.cases):
            raise ConfigError(f"config key 'cases' must not repeat a case, got {self.cases}")
        check_range("label_noise", self.label_noise, 0, low_open=True)
        check_choice("label_distribution", self.label_distribution, LABEL_DISTRIBUTIONS)
        for key in ("sgd", "adam"):
            etas, t1, runs = getattr(self, f"{key}_etas"), getattr(self, f"{key}_time"), getattr(self, f"{key}_runs")
            if len(etas) < 2 or any(not e > 0 for e in etas) or len(set(etas)) != len(etas):
                raise ConfigError(f"config key '{key}_etas' must list at least two distinct learning rates > 0, got {etas}")
            check_range(f"{key}_time", t1, 0, low_open=True)
            check_range(f"{key}_runs", runs, 2)
            for eta in etas:
                steps_for(t1, eta, f"{key}_time", f"{key}_etas")
        if self.adam_c2 <= 0 or self.adam_c2 * max(self.adam_etas) ** 2 >= 1:
            raise ConfigError(
                f"config key 'adam_c2' must be > 0 with adam_c2·max(adam_etas)² < 1 (β₂ = 1 − c₂η²), got {self.adam_c2}"
            )
        check_range("toy_start", self.toy_start, 0, low_open=True)


def steps_for(t1: float, eta: float, time_key: str = "time", eta_key: str = "etas") -> int:
    """K = T/η², which must be a whole number of steps (so discrete and slow runs end at the same T)."""
    k = t1 / eta**2
    steps = round(k)
    if steps < 1 or abs(k - steps) > 1e-6 * max(k, 1.0):
        raise ConfigError(
            f"config keys '{time_key}'/'{eta_key}': slow time T = {t1} must be a whole number of steps η² "
            f"for every η, got T/η² = {k} at η = {eta}"
        )
    return steps


PRESETS: dict[str, dict] = {
    # < 60 s on one core. From Check C (docs/theory.md#101-label-noise-against-the-sgd-slow-flow): d = 3, n = 2 diagonal net,
    # σ = 1, T = 1, η ∈ {0.04, 0.02, 0.01}. From Check D (docs/theory.md#102-rmsprop-and-adam-against-the-adam-slow-flow): c = σ²/n = 0.5, c₂ = 20
    # (1 − β₂ = c₂η²), η ∈ {0.01, 0.005, 0.0025}, ε = 0, v₀ = c·diag H(θ₀), no bias correction, β₁ = 0.9
    # for Adam. Ours: 100 / 400 runs per (case, η) instead of 4000 / 2000 (enough because the end points
    # are projected onto Γ: s.e. ≪ Cη); Adam slow time T = 0.1 instead of Check D's 0.05 (twice the
    # displacement, so half the relative Monte-Carlo error per run, and half the O(η²/((1 − β₁)T))
    # momentum start-up lag of β₁ = 0.9; Γ stays regular: min θ_j(0)² = 0.16 > T); the product-toy
    # start θ₀ = (2, ½); Rademacher ±σ label noise (Li–Wen–Lyu's code, docs/theory.md#46-experiments-of-li-wen-lyu).
    "default": dict(sgd_runs=100, adam_runs=400),
    # The science tables exactly: 4000 runs (Check C, docs/theory.md#101-label-noise-against-the-sgd-slow-flow), 2000 runs and T = 0.05
    # (Check D, docs/theory.md#102-rmsprop-and-adam-against-the-adam-slow-flow); everything else as in `default`.
    "full": dict(sgd_runs=4000, adam_runs=2000, adam_time=0.05),
}


# ----------------------------------------------------------------------------- problems
def diagnet_problem() -> tuple[SquaredLossProblem, jax.Array]:
    """Diagonal net d = 3, n = 2, ±1 data; labels y := Xw(θ₀) so θ₀ ∈ Γ."""
    net = DiagonalNet(3)
    X = jnp.asarray(DIAGNET_X, jnp.float64)
    theta0 = jnp.asarray(DIAGNET_THETA0, jnp.float64)
    return SquaredLossProblem(net, X, X @ net.effective_weights(theta0)), theta0


def product_problem(a: float) -> tuple[SquaredLossProblem, jax.Array]:
    """Product toy L = ½(θ₀θ₁ − 1)², start (a, 1/a) ∈ Γ."""
    return ProductToy().problem(), jnp.asarray([a, 1.0 / a], jnp.float64)


def make_problem(config: Config, model: str):
    check_choice("model", model, MODELS_USED)
    return diagnet_problem() if model == "diagnet" else product_problem(config.toy_start)


def noise_for(config: Config, spec: CaseSpec) -> LabelNoise:
    if spec.batch is None:
        return LabelNoise(config.label_noise, config.label_distribution)
    # one row per step; for batch 1 with and without replacement coincide, and `replace` is cheaper
    return LabelNoise(config.label_noise, config.label_distribution, batch_size=spec.batch, replace=True)


def noise_constant(config: Config, spec: CaseSpec, problem: SquaredLossProblem) -> float:
    """c in Σ = cH on Γ: σ²/n (full batch) or σ²/B."""
    return float(noise_for(config, spec).label_noise_constant(problem))


def case_schedule(config: Config, spec: CaseSpec) -> tuple[tuple[float, ...], float, int]:
    if spec.family == "sgd":
        return config.sgd_etas, config.sgd_time, config.sgd_runs
    return config.adam_etas, config.adam_time, config.adam_runs


# ----------------------------------------------------------------------------- slow flows
@dataclass
class SlowReference:
    t1: float
    end: np.ndarray  # ζ(T)
    v_end: np.ndarray | None  # v(T) (Adam)
    printed_end: np.ndarray | None  # end point of the printed flow (Adam, when asked)


def slow_reference(config: Config, spec: CaseSpec, problem, theta0, t1: float, printed: bool) -> SlowReference:
    c = noise_constant(config, spec, problem)
    if spec.family == "sgd":
        sol = slow.integrate_slow_flow(problem.loss, theta0, t1, noise_scale=c, optimizer="sgd", num_saves=3)
        return SlowReference(t1, np.asarray(sol.path[-1]), None, None)
    v0 = c * problem.gauss_newton_diagonal(theta0)
    sol = slow.integrate_slow_flow(
        problem.loss, theta0, t1, noise_scale=c, optimizer="adam", v0=v0, c2=config.adam_c2, num_saves=3
    )
    printed_end = None
    if printed:
        rank = slow.manifold_rank(problem.loss, theta0)
        printed_end = np.asarray(integrate_printed_adam_flow(problem.loss, theta0, v0, t1, c, config.adam_c2, rank))
    return SlowReference(t1, np.asarray(sol.path[-1]), np.asarray(sol.v[-1]), printed_end)


@eqx.filter_jit
def integrate_printed_adam_flow(loss_fn, zeta0, v0, t1, c, c2, rank: int):
    """The paper's printed Theorem 5.1 with v as a state: dζ/dt = −(c/2) S ∂Φ_S S∇³L[S],
    dv/dt = c₂(c·diag H − v), S = 1/√v (Tsit5, adaptive). No re-projection: the printed velocity
    is in general not tangent to Γ (docs/theory.md#43-corrected-adaptive-slow-sde), which is part of what the discrete runs test."""

    def field(t, y, args):
        zeta, v = y
        return (
            slow.adam_printed_velocity(loss_fn, zeta, c, slow.adam_preconditioner(v), rank),
            slow.adam_v_velocity(loss_fn, zeta, v, c, c2),
        )

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field), diffrax.Tsit5(), 0.0, t1, None, (zeta0, v0),
        stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-10), max_steps=100_000,
    )
    return sol.ys[0][-1]


# ----------------------------------------------------------------------------- discrete runs
_RUNNERS: dict = {}


def _runner(noise, family: str, num_steps: int, log_every: int, block_size: int):
    """One compiled program per (noise, optimizer family, schedule, block size), cached per process."""
    key = (noise, family, num_steps, log_every, block_size)
    if key not in _RUNNERS:
        if family == "sgd":
            factory = lambda learning_rate, b1, b2: sgd(learning_rate)  # noqa: E731
        else:
            # ε = 0, no bias correction: the theory's setting (docs/theory.md#41-agm-class-and-scaling)
            factory = lambda learning_rate, b1, b2: adaptive(learning_rate, b1, b2, 0.0, 0.5, False)  # noqa: E731
        _RUNNERS[key] = make_runner(
            noise, factory, num_steps=num_steps, log_every=log_every, metrics={"theta": _theta_metric},
            block_size=block_size, per_run_hyperparameters=True,
        )
    return _RUNNERS[key]


def _theta_metric(problem, theta):
    return theta


@eqx.filter_jit
def project_to_manifold(problem: SquaredLossProblem, thetas: jax.Array, S: jax.Array, num_iters: int = 4):
    """Each row's oblique Gauss–Newton projection onto Γ in the metric S⁻¹ (equal to Φ_S to first
    order; S = 1: the orthogonal projection Φ): `sde.manifold.retract_to_manifold(metric=S)`."""
    return jax.vmap(lambda theta: mf.retract_to_manifold(problem, theta, num_iters, metric=S))(thetas)


def group_key(spec: CaseSpec) -> tuple:
    """Cases that can share one compiled program: same model, same noise, same optimizer family."""
    return (spec.model, spec.batch, spec.family)


def case_keys(config: Config, name: str, eta_index: int, runs: int) -> jax.Array:
    base = jax.random.fold_in(jax.random.PRNGKey(config.seed), list(CASES).index(name))
    return jax.random.split(jax.random.fold_in(base, eta_index), runs)


def simulate_group(config: Config, names: list[str]) -> dict[tuple[str, int], np.ndarray]:
    """End points θ_K (runs, D) of every (case, η) of one group, from one compiled program."""
    specs = [CASES[n] for n in names]
    spec0 = specs[0]
    problem, theta0 = make_problem(config, spec0.model)
    noise = noise_for(config, spec0)
    c = noise_constant(config, spec0, problem)
    blocks = []  # (name, eta index, eta, K, runs)
    for name, spec in zip(names, specs):
        etas, t1, runs = case_schedule(config, spec)
        for i, eta in enumerate(etas):
            blocks.append((name, i, eta, steps_for(t1, eta), runs))
    ks = [b[3] for b in blocks]
    num_steps, log_every = max(ks), reduce(math.gcd, ks)
    total = sum(b[4] for b in blocks)
    lr = np.concatenate([np.full(b[4], b[2]) for b in blocks])
    b1 = np.concatenate([np.full(b[4], CASES[b[0]].b1) for b in blocks])
    b2 = 1.0 - config.adam_c2 * lr**2
    hyper = {"learning_rate": jnp.asarray(lr), "b1": jnp.asarray(b1), "b2": jnp.asarray(b2)}
    keys = jnp.concatenate([case_keys(config, b[0], b[1], b[4]) for b in blocks])
    thetas0 = jnp.tile(theta0, (total, 1))
    state0 = None
    if spec0.family == "adam":
        v0 = c * problem.gauss_newton_diagonal(theta0)  # v₀ = c·diag H(θ₀) (Check D)
        state0 = AdaptiveState(jnp.zeros((total,), jnp.int32), jnp.zeros_like(thetas0), jnp.tile(v0, (total, 1)))
    runner = _runner(noise, spec0.family, num_steps, log_every, total)
    sim = runner(problem, thetas0, keys, hyper, state0)
    status = np.asarray(sim.status)
    logs = np.asarray(sim.logs["theta"])  # (total, num_logs + 1, D)
    out, start = {}, 0
    for name, i, eta, k, runs in blocks:
        if np.any(status[start : start + runs] != 0):
            raise RuntimeError(f"{name}, η = {eta}: {int(np.sum(status[start:start + runs] != 0))} runs diverged")
        out[(name, i)] = logs[start : start + runs, k // log_every]
        start += runs
    return out


# ----------------------------------------------------------------------------- statistics
def displacement_stats(ends: np.ndarray, theta0: np.ndarray, reference_end: np.ndarray) -> dict[str, float]:
    """rel_err, ratio and their Monte-Carlo standard errors for end points `ends` (runs, D)."""
    d = ends - theta0
    d_ode = reference_end - theta0
    norm2 = float(d_ode @ d_ode)
    runs = d.shape[0]
    mean = d.mean(axis=0)
    cov_trace = float(np.sum(d.var(axis=0, ddof=1)))
    proj = d @ d_ode / norm2
    return {
        "rel_err": float(np.linalg.norm(mean - d_ode) / math.sqrt(norm2)),
        "rel_err_se": math.sqrt(cov_trace / runs / norm2),
        "ratio": float(proj.mean()),
        "ratio_se": float(proj.std(ddof=1) / math.sqrt(runs)),
    }


def fit_slope(etas, errors) -> float:
    """Least-squares slope of log(error) against log(η)."""
    return float(np.polyfit(np.log(np.asarray(etas, float)), np.log(np.asarray(errors, float)), 1)[0])


def compute(config: Config, progress=None) -> list[dict]:
    """Every (case, η) record (see the module docstring), grouped so that each group compiles once."""
    groups: dict[tuple, list[str]] = {}
    for name in config.cases:
        groups.setdefault(group_key(CASES[name]), []).append(name)
    records = []
    t0 = time.perf_counter()
    for names in groups.values():
        ends = simulate_group(config, names)
        for name in names:
            spec = CASES[name]
            problem, theta0 = make_problem(config, spec.model)
            etas, t1, runs = case_schedule(config, spec)
            printed = config.compare_printed and spec.family == "adam"
            ref = slow_reference(config, spec, problem, theta0, t1, printed)
            S = jnp.ones_like(theta0) if ref.v_end is None else jnp.asarray(1.0 / np.sqrt(ref.v_end))
            th0 = np.asarray(theta0)
            for i, eta in enumerate(etas):
                raw = ends[(name, i)]
                projected = np.asarray(project_to_manifold(problem, jnp.asarray(raw), S))
                rec = {"case": name, "model": spec.model, "family": spec.family, "eta": float(eta),
                       "steps": steps_for(t1, eta), "runs": runs, "slow_time": t1, "C": spec.C,
                       "noise_constant": noise_constant(config, spec, problem)}
                rec.update(displacement_stats(projected, th0, ref.end))
                rec.update({f"{k}_raw": v for k, v in displacement_stats(raw, th0, ref.end).items()})
                if ref.printed_end is not None:
                    rec.update({f"{k}_printed": v for k, v in displacement_stats(projected, th0, ref.printed_end).items()})
                rec["max_distance_to_manifold"] = float(
                    np.max(np.linalg.norm(projected - raw, axis=1))
                )
                records.append(rec)
            if progress is not None:
                print(f"{name:16s} done  {time.perf_counter() - t0:6.1f} s", file=progress, flush=True)
    return records


def slopes(records: list[dict], key: str = "rel_err") -> dict[str, float]:
    out = {}
    for name in dict.fromkeys(r["case"] for r in records):
        rs = [r for r in records if r["case"] == name]
        out[name] = fit_slope([r["eta"] for r in rs], [r[key] for r in rs])
    return out


def to_dataset(config: Config, records: list[dict]):
    import xarray as xr

    cases = list(dict.fromkeys(r["case"] for r in records))
    data = {}
    for k in dict.fromkeys(k for r in records for k in r):
        if k in ("case", "model", "family"):
            data[k] = ("record", np.asarray([r[k] for r in records], dtype=str))
        else:
            data[k] = ("record", np.asarray([r.get(k, np.nan) for r in records], np.float64))
    fitted = slopes(records)
    data["slope"] = ("case_name", np.asarray([fitted[c] for c in cases]))
    data["slope_raw"] = ("case_name", np.asarray([slopes(records, "rel_err_raw")[c] for c in cases]))
    return xr.Dataset(data, coords={"case_name": np.asarray(cases, dtype=str)},
                      attrs={"experiment": "slow-sde-validation", "sources": "docs/theory.md s10.1-10.2"})


def run(config: Config, out_dir: Path) -> dict:
    enable_x64()  # the flows, projections and Hessian traces need float64
    import json
    import sys

    from implicit_bias_lab.figures.slow_sde_validation import plot_error_vs_eta

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    records = compute(config, progress=sys.stderr)
    fitted = slopes(records)
    summary = {"slopes": fitted, "slopes_raw": slopes(records, "rel_err_raw")}
    summary["table"] = [
        {k: r[k] for k in ("case", "eta", "rel_err", "rel_err_se", "ratio", "ratio_se", "rel_err_raw", "ratio_raw")}
        | ({"rel_err_printed": r["rel_err_printed"], "ratio_printed": r["ratio_printed"]} if "rel_err_printed" in r else {})
        for r in records
    ]
    results = {"config": config.__dict__, "cases": {n: CASES[n].__dict__ for n in config.cases},
               "records": records, "slopes": fitted, "slopes_raw": summary["slopes_raw"]}
    atomic_write_text(out_dir / "results.json", json.dumps(results, indent=2, default=list))
    files = [out_dir / "results.json"]
    files.append(write_netcdf(out_dir / "results.nc", to_dataset(config, records)))
    files.append(plot_error_vs_eta(records, fitted, out_dir))
    summary["files"] = [str(f) for f in files]
    write_manifest(out_dir, config, wall_time_s=time.perf_counter() - t0, extra={"summary": summary})
    return summary
