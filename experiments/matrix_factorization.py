"""Deep matrix factorization with label noise: SGD lowers tr H, Adam lowers tr Diag(H)^½ (Li–Wen–Lyu §6).

A deep linear net P(θ) = W_L ⋯ W_1 (models.DeepLinearNet) is fitted to n Gaussian measurements
y_k = ⟨A_k, M*⟩ of a low-rank matrix M* (models.matrix_sensing_data). With n below the number of
entries there is a manifold Γ of interpolating factorizations. Plain GD from a Gaussian init lands
on Γ at ζ₀; from ζ₀ two routes are run for each optimizer and compared in slow time t = η²k
(docs/theory.md#1-conventions, docs/theory.md#3-label-noise,
docs/theory.md#44-adam-under-label-noise, docs/theory.md#46-experiments-of-li-wen-lyu):

* discrete — the optimizer itself with fresh Gaussian label noise δ on every label every step
  (full batch, Σ = cH on Γ with c = δ²/n): label-noise GD (SGD's slow flow) and Adam without bias
  correction, 1 − β₂ = c₂η², ε > 0, m₀ = 0, v₀ = c·diag H(ζ₀); `seeds` paths vmapped
  (sde.discrete.make_runner), the iterate logged at `num_logs` equally spaced slow times and
  measured at its Gauss–Newton projection onto Γ (the point the slow dynamics describe);
* slow — sde.integrate_slow_flow from ζ₀: SGD dζ/dt = −(c/4)P_∥∇tr H, Adam the corrected flow
  dζ/dt = −(c/4)∂Φ_S S∇³L[S] with S = 1/(√v + ε), v either a state (dv/dt = c₂(c·diag H − v),
  `adam_flow = "state"`) or quasi-static (v = c·diag H, `adam_flow = "quasi-static"`).

Logged along both routes: train loss (discrete: of the raw iterate), tr H, tr Diag(H)^½ (on the
Gauss–Newton matrix JᵀJ/n = H on Γ) and the test error ‖P − M*‖_F² (distance to the truth).

**Why ε > 0.** With ε = 0 the Adam flow is singular in finite time on this model: a hidden unit's
row of W₁ and column of W₂ shrink together like the diagonal net's coordinates (θ² ≈ θ₀² − t,
docs/theory.md#64-finite-time-extinction), S = 1/√(c·diag H) blows up along that unit, and an
adaptive solver stalls at the extinction time (measured: t ≈ 0.14 at the default preset, the
Tsit5 step count exhausts 10⁵ steps). ε caps S at 1/ε, so a dying unit decays exponentially
instead and the flow integrates in a few thousand steps; the discrete Adam uses the same ε, so
the two routes describe the same optimizer. ε → 0 moves Adam's regularizer to tr Diag(H)^½
(docs/theory.md#45-fixed-points-and-regularizers: the correction is O(ε log 1/ε)).

**Measured** (default preset, README "matrix-factorization"): the routes agree along the path to
≤ 1.4 % of the total change, with a gap that halves with η (tests/test_matrix_factorization.py);
Adam ends with tr Diag(H)^½ 19.3 against SGD's 41.7, but at this size it recovers M* exactly and
its tr H ties SGD's, so the paper's "tr H stays high, test error worse" does not show here.

**The §6 claim at the `claim` preset** (rank-2 8×8 M*, n = 40, 2 and 5 layers, T = 8; discrete mean ±
s.e. over 8 seeds, slow flow in brackets): Adam lowers tr Diag(H)^½ (2 layers 76.30 ± 0.003 [76.29]
vs SGD 134.2 ± 0.1 [134.05]; 5 layers 140.0 ± 1.1 [135.4] vs 371.4 ± 1.6 [362.3]); its tr H stays
high at 5 layers (631.6 ± 1.0 [631.9] vs 545.2 ± 0.1 [536.7], and it rises again after t ≈ 1) and
ties at 2 (184.97 vs 185.10); but its test error is NOT worse: Adam recovers M* at both depths
(1e-29, 8e-14 [4e-22, 1e-29]) while label-noise SGD ends at 0.0073 ± 0.0007 [4e-4] and 0.135 ± 0.004
[1e-18]. The same direction held at every size tried on this CPU (5×5 rank 1, 8×8 rank 2–3 with
n = 20–60, 10×10 rank 2 n = 50, 16×16 rank 2 n = 100; also with the paper's β₂ = 0.999, lr 10⁻³ and
ε = 10⁻³ on 8×8): where SGD's limit recovers M*, Adam's does too; where it does not, Adam's test error
is lower. Reading (docs/theory.md#46-experiments-of-li-wen-lyu): with Gaussian measurements diag H ≈
column/row norms of the neighbouring layers, so tr Diag(H)^½ acts as a group sparsity over hidden
units, a stronger low-rank bias than tr H's nuclear-norm-like one.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab.experiments.config import ConfigError, check_choice, check_range
from implicit_bias_lab.experiments.io import atomic_write_text, write_manifest, write_netcdf
from implicit_bias_lab.models import DeepLinearNet, SquaredLossProblem, matrix_sensing_data
from implicit_bias_lab.sde import manifold as mf
from implicit_bias_lab.sde import slow
from implicit_bias_lab.sde.discrete import sgd
from implicit_bias_lab.sde.discrete.simulate import make_runner
from implicit_bias_lab.sde.families import get_family
from implicit_bias_lab.sde.noise import LabelNoise, NoNoise
from implicit_bias_lab.precision import enable_x64

DESCRIPTION = "Deep linear net / matrix sensing with label noise: SGD vs Adam sharpness, discrete vs slow flow (Li–Wen–Lyu §6)"
OPTIMIZER_NAMES = ("sgd", "adam")
ROUTES = ("discrete", "slow")
METRICS = ("train_loss", "trace_hessian", "trace_sqrt_diag_hessian", "test_error")
ADAM_FLOWS = ("state", "quasi-static")
FLOW_PROJECTIONS = ("jacobian", "hessian")


@dataclass(frozen=True)
class Config:
    depths: tuple[int, ...] = (2,)  # numbers of layers L
    size: int = 5  # M* is size × size
    width: int = 5  # hidden widths
    rank: int = 1  # rank of M*
    n: int = 15  # measurements
    init_scale: float = 1.0  # layers N(0, init_scale²/d_in)
    gd_learning_rate: float = 0.02  # plain GD to the landing point ζ₀ ∈ Γ
    gd_steps: int = 4000
    label_noise: float = 3.0  # Gaussian label noise δ on every label (c = δ²/n)
    slow_time: float = 4.0  # T: both optimizers run K = T/η² steps
    num_logs: int = 8  # logged slow times T·j/num_logs, j = 0..num_logs
    sgd_learning_rate: float = 0.01
    adam_learning_rate: float = 0.005
    adam_b1: float = 0.9
    adam_b2: float = 0.9995  # 1 − β₂ = c₂η² (default c₂ = 20)
    adam_eps: float = 0.1
    adam_flow: str = "state"
    seeds: int = 8  # discrete paths per optimizer
    flow_max_steps: int = 20_000  # Diffrax steps per save interval of the slow flow
    flow_projection: str = "jacobian"  # normal space of Γ for the slow flow: "jacobian" (range Jᵀ, n × n solves) or "hessian" (eigh of the D × D H)
    flow_extinction_floor: float = 1e-8  # slow flow: coordinates below this × max|ζ| set to 0 at each save (sde.slow.integrate_slow_flow)
    seed: int = 0

    def __post_init__(self):
        if not self.depths or any(int(d) < 2 for d in self.depths) or len(set(self.depths)) != len(self.depths):
            raise ConfigError(f"config key 'depths' must list distinct depths >= 2, got {self.depths!r}")
        check_range("size", self.size, 2)
        check_range("width", self.width, 1)
        check_range("rank", self.rank, 1, self.size)
        check_range("n", self.n, 1, self.size * self.size - 1)
        check_range("init_scale", self.init_scale, 0, low_open=True)
        check_range("gd_learning_rate", self.gd_learning_rate, 0, low_open=True)
        check_range("gd_steps", self.gd_steps, 1)
        check_range("label_noise", self.label_noise, 0, low_open=True)
        check_range("slow_time", self.slow_time, 0, low_open=True)
        check_range("num_logs", self.num_logs, 1)
        check_range("sgd_learning_rate", self.sgd_learning_rate, 0, low_open=True)
        check_range("adam_learning_rate", self.adam_learning_rate, 0, low_open=True)
        check_range("adam_b1", self.adam_b1, 0.0, 1.0, high_open=True)
        check_range("adam_b2", self.adam_b2, 0.0, 1.0, high_open=True)
        check_range("adam_eps", self.adam_eps, 0, low_open=True)
        check_choice("adam_flow", self.adam_flow, ADAM_FLOWS)
        check_choice("flow_projection", self.flow_projection, FLOW_PROJECTIONS)
        check_range("flow_extinction_floor", self.flow_extinction_floor, 0.0, 1.0, high_open=True)
        check_range("seeds", self.seeds, 2)
        check_range("flow_max_steps", self.flow_max_steps, 1)
        for name in OPTIMIZER_NAMES:
            steps_and_log_every(self, name)

    @property
    def noise_constant(self) -> float:
        """c = δ²/n: full-batch Gaussian label noise (docs/theory.md#1-conventions)."""
        return self.label_noise**2 / self.n

    @property
    def adam_c2(self) -> float:
        """c₂ = (1 − β₂)/η², the rate of dv/dt = c₂(c·diag H − v) in slow time."""
        return (1.0 - self.adam_b2) / self.adam_learning_rate**2


def steps_and_log_every(config: Config, optimizer: str) -> tuple[int, int]:
    """(K, log_every) with K = T/η² steps, a whole multiple of num_logs (so both routes log at the same t)."""
    key = f"{optimizer}_learning_rate"
    eta = getattr(config, key)
    k = config.slow_time / eta**2
    steps = round(k)
    if steps < config.num_logs or abs(k - steps) > 1e-6 * k or steps % config.num_logs:
        raise ConfigError(
            f"config keys 'slow_time'/{key!r}/'num_logs': T/η² = {k:g} steps at η = {eta} must be a whole "
            f"number of steps divisible by num_logs = {config.num_logs}"
        )
    return steps, steps // config.num_logs


PRESETS: dict[str, dict] = {
    # Ours (CPU, ≈ 1 min on 2 cores): the classroom demo's instance (experiments/demos/deep_linear_sharpness.py):
    # a rank-1 5×5 M*, width 5, n = 15 < 25 entries, 2 layers, Gaussian δ = 3 (c = 0.6); slow time T = 4,
    # where both flows have settled (SGD's tr H within 0.1 % of its limit). Adam: 1 − β₂ = c₂η² with c₂ = 20,
    # β₁ = 0.9 (the paper's), ε = 0.1 (ours: the ε = 0 flow is singular, see the module docstring).
    "default": {},
    # Li–Wen–Lyu §6 (docs/theory.md#46-experiments-of-li-wen-lyu): 2 and 5 layers, low-rank truth,
    # Gaussian label noise, Adam β₁ = 0.9, β₂ = 0.999, lr 10⁻³; n = 100 (from the figure file names). Ours
    # (not stated in the paper): M* 16×16 of rank 2 (76 degrees of freedom < n < 256 entries), width 16, δ = 3, SGD lr 10⁻³, ε = 10⁻², T = 1, 5 seeds,
    # and the quasi-static Adam flow (the paper's c₂ = (1 − β₂)/η² = 1000 makes v quasi-static, c₂T ≫ 1;
    # note c₂η = 1, outside the slow-SDE scaling, where discrete Adam drifts 16–27 % slower than the flow,
    # docs/theory.md#102-rmsprop-and-adam-against-the-adam-slow-flow). 10⁶ steps per run: needs an accelerator or hours of CPU.
    "paper": {
        "depths": (2, 5),
        "size": 16,
        "width": 16,
        "rank": 2,
        "n": 100,
        "gd_steps": 20_000,
        "gd_learning_rate": 0.01,
        "slow_time": 1.0,
        "num_logs": 10,
        "sgd_learning_rate": 1e-3,
        "adam_learning_rate": 1e-3,
        "adam_b2": 0.999,
        "adam_eps": 1e-2,
        "adam_flow": "quasi-static",
        "seeds": 5,
    },
    # Ours (CPU, 216 s on 2 cores shared with other jobs; the 5-layer Adam flow is 67 s of it): the §6 claim at a
    # size where every route (discrete SGD/Adam, both slow flows, 2 and 5 layers) runs on the CPU. A rank-2 8×8 M*
    # (28 degrees of freedom), n = 40 < 64 entries (the truth is the only rank-2 interpolant; the nuclear norm does
    # not yet pin it at 2 layers), δ = 5 (c = 0.625), T = 8, both η = 0.005 (at η = 0.01 label-noise GD on 5 layers
    # leaves the slow regime: train loss ≈ 2, tr H 6 % above its flow), Adam c₂ = 20, β₁ = 0.9, ε = 0.1. Verdict
    # (module docstring; the manifest's summary.depths.*.verdict): Adam lowers tr Diag(H)^½ (×0.57 at 2 layers,
    # ×0.38 at 5) and its tr H stays high at 5 layers (+16 %, non-monotone; ties at 2), but its test error is NOT
    # worse: it recovers M* at both depths, label-noise SGD ends at 0.007 (2 layers) and 0.13 (5 layers).
    "claim": {
        "depths": (2, 5),
        "size": 8,
        "width": 8,
        "rank": 2,
        "n": 40,
        "label_noise": 5.0,
        "slow_time": 8.0,
        "num_logs": 8,
        "sgd_learning_rate": 0.005,
        "adam_learning_rate": 0.005,
        "flow_max_steps": 50_000,
    },
}
PRESETS = {name: dict(p) for name, p in PRESETS.items()}


# ----------------------------------------------------------------------------- problem and landing point
@dataclass
class Instance:
    """One depth: the net, the sensing problem, the truth M* and the GD landing point ζ₀ ∈ Γ."""

    depth: int
    net: DeepLinearNet
    problem: SquaredLossProblem
    M_star: jax.Array
    zeta0: jax.Array


def make_instance(config: Config, depth: int) -> Instance:
    """Data shared by every depth (key `seed`); plain GD from a Gaussian init, then Gauss–Newton
    steps onto Γ. Raises RuntimeError when GD has not come close enough to Γ to retract."""
    key = jax.random.PRNGKey(config.seed)
    A, y, M = matrix_sensing_data(jax.random.fold_in(key, 0), config.n, config.size, config.size, config.rank)
    net = DeepLinearNet((config.size,) + (config.width,) * (depth - 1) + (config.size,))
    problem = SquaredLossProblem(net, A, y)
    theta = net.initial_params(jax.random.fold_in(key, depth), config.init_scale)
    runner = make_runner(NoNoise(), sgd(config.gd_learning_rate), num_steps=config.gd_steps,
                         log_every=config.gd_steps, block_size=1)
    gd = runner(problem, theta[None], jax.random.PRNGKey(0)[None])
    zeta0 = mf.retract_to_manifold(problem, gd.theta[0])
    loss = float(problem.loss(zeta0))
    if int(gd.status[0]) != 0 or not loss <= slow.ON_MANIFOLD_LOSS_TOL:
        raise RuntimeError(
            f"depth {depth}: plain GD did not reach Γ (status {int(gd.status[0])}, loss after retraction {loss:.3g}); "
            "raise gd_steps or lower gd_learning_rate / init_scale"
        )
    return Instance(depth, net, problem, M, zeta0)


def levenberg_marquardt_projection(problem: SquaredLossProblem, theta: jax.Array, num_iters: int = 30) -> jax.Array:
    """A point of Γ = {r = 0} near θ by damped Gauss–Newton steps, θ ← θ − Jᵀ(JJᵀ + ‖r‖I)⁻¹r
    (`sde.manifold.retract_to_manifold(damped=True)`, Levenberg–Marquardt with μ = ‖r‖).

    Plain Gauss–Newton steps J⁺r jump far along the small singular directions of J: as Adam's flow
    switches hidden units off, Γ approaches a point where rank J drops (one live unit of a rank-1
    M*: dim{w aᵀ + b uᵀ} = 2·size − 1 < n), and the discrete iterate's O(√(ηc)) normal fluctuation
    then made three GN steps land at distance ~10² (measured). The damping keeps each step O(‖r‖).
    """
    return mf.retract_to_manifold(problem, theta, num_iters, damped=True)


@eqx.filter_jit
def measure(problem: SquaredLossProblem, M_star: jax.Array, thetas: jax.Array) -> dict[str, jax.Array]:
    """METRICS (and the distance to Γ) for each row of `thetas`, read at its projection onto Γ
    (`levenberg_marquardt_projection`); train_loss is the raw iterate's."""

    def one(theta):
        z = levenberg_marquardt_projection(problem, theta)
        d = problem.gauss_newton_diagonal(z)
        return {
            "train_loss": problem.loss(theta),
            "trace_hessian": jnp.sum(jnp.maximum(d, 0.0)),
            "trace_sqrt_diag_hessian": jnp.sum(jnp.sqrt(jnp.maximum(d, 0.0))),
            "test_error": jnp.sum((problem.model.product(z) - M_star) ** 2),
            "distance_to_manifold": jnp.linalg.norm(z - theta),
            "projection_residual": jnp.linalg.norm(problem.residuals(z)),
        }

    return jax.vmap(one)(thetas)


# ----------------------------------------------------------------------------- the two routes
def _theta_metric(problem, theta):
    return theta


def discrete_runs(config: Config, inst: Instance, optimizer: str) -> dict[str, np.ndarray]:
    """`seeds` label-noise paths of `optimizer` from ζ₀: metric → (seeds, num_logs + 1), plus status."""
    check_choice("optimizer", optimizer, OPTIMIZER_NAMES)
    steps, log_every = steps_and_log_every(config, optimizer)
    R, z0, problem = config.seeds, inst.zeta0, inst.problem
    noise = LabelNoise(config.label_noise, distribution="gaussian")
    thetas0 = jnp.tile(z0, (R, 1))
    family = get_family(optimizer, model=problem.model)
    opt, state0 = family.transform(config.sgd_learning_rate), None
    if family.has_state:
        # the theory's Adam (docs/theory.md#41-agm-class-and-scaling): no bias correction, 1 − β₂ = c₂η², v₀ = c·diag H(ζ₀)
        opt = family.transform(config.adam_learning_rate, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps)
        v0 = config.noise_constant * problem.gauss_newton_diagonal(z0)
        state0 = family.with_second_moment(jax.vmap(opt.init)(thetas0), jnp.tile(v0, (R, 1)))
    base = jax.random.fold_in(jax.random.PRNGKey(config.seed), 1000 + inst.depth)
    keys = jax.random.split(jax.random.fold_in(base, OPTIMIZER_NAMES.index(optimizer)), R)
    runner = make_runner(noise, opt, num_steps=steps, log_every=log_every, metrics={"theta": _theta_metric}, block_size=R)
    sim = runner(problem, thetas0, keys, None, state0)
    logged = sim.logs["theta"]  # (R, num_logs + 1, D)
    flat = measure(problem, inst.M_star, logged.reshape(-1, logged.shape[-1]))
    out = {k: np.asarray(v).reshape(logged.shape[:2]) for k, v in flat.items()}
    out["status"] = np.asarray(sim.status)
    out["steps"] = steps
    return out


def slow_flow(config: Config, inst: Instance, optimizer: str, noise_scale: float | None = None) -> dict[str, np.ndarray]:
    """The label-noise slow flow of `optimizer` from ζ₀ to T, saved at the discrete log times:
    metric → (num_logs + 1,), plus the solver's step count and the largest distance to Γ corrected."""
    check_choice("optimizer", optimizer, OPTIMIZER_NAMES)
    c = config.noise_constant if noise_scale is None else float(noise_scale)
    kwargs = dict(noise_scale=c, num_saves=config.num_logs + 1, max_steps=config.flow_max_steps,
                  residual_fn=inst.problem.residuals if config.flow_projection == "jacobian" else None,
                  extinction_floor=config.flow_extinction_floor)
    family = get_family(optimizer, model=inst.problem.model)
    if family.has_state:
        state = config.adam_flow == "state"
        v0 = c * inst.problem.gauss_newton_diagonal(inst.zeta0) if state else None
        kwargs.update(eps=config.adam_eps, c2=config.adam_c2 if state else None, v0=v0)
    sol = slow.integrate_slow_flow(inst.problem.loss, inst.zeta0, config.slow_time, optimizer=family, **kwargs)
    out = {k: np.asarray(v) for k, v in measure(inst.problem, inst.M_star, sol.path).items()}
    out["times"] = np.asarray(sol.times)
    out["solver_steps"] = int(sol.num_steps)
    out["max_distance_corrected"] = float(np.max(np.asarray(sol.distance_to_manifold)))
    return out


# ----------------------------------------------------------------------------- comparison
def agreement(discrete: dict, flow: dict, metric: str) -> dict[str, float]:
    """Discrete mean ± s.e. against the flow along the slow time: the largest gap relative to the
    flow's total change, and the end-point z-score."""
    x = discrete[metric]
    mean, se = x.mean(0), x.std(0, ddof=1) / math.sqrt(x.shape[0])
    ref = flow[metric]
    change = max(abs(float(ref[-1] - ref[0])), 1e-300)
    return {
        "discrete_end_mean": float(mean[-1]),
        "discrete_end_se": float(se[-1]),
        "slow_end": float(ref[-1]),
        "start": float(ref[0]),
        "max_gap_over_change": float(np.max(np.abs(mean - ref)) / change),
        "end_gap_over_change": float(abs(mean[-1] - ref[-1]) / change),
        "end_z": float((mean[-1] - ref[-1]) / se[-1]) if se[-1] > 1e-12 * max(abs(float(ref[0])), 1e-300) else float("nan"),
    }


def compute(config: Config, progress=None) -> dict:
    """Every depth: landing point, discrete runs and slow flows of both optimizers, and timings."""
    results = {}
    for depth in config.depths:
        t0 = time.perf_counter()
        inst = make_instance(config, depth)
        timings = {"landing": time.perf_counter() - t0}
        rec = {"instance": inst, "discrete": {}, "slow": {}, "timings": timings}
        for name in OPTIMIZER_NAMES:
            t1 = time.perf_counter()
            rec["discrete"][name] = discrete_runs(config, inst, name)
            timings[f"discrete_{name}"] = time.perf_counter() - t1
            t1 = time.perf_counter()
            rec["slow"][name] = slow_flow(config, inst, name)
            timings[f"slow_{name}"] = time.perf_counter() - t1
            if progress is not None:
                print(f"depth {depth} {name}: discrete {timings[f'discrete_{name}']:.1f} s, slow {timings[f'slow_{name}']:.1f} s",
                      file=progress, flush=True)
        results[depth] = rec
    return results


def summarize(config: Config, results: dict) -> dict:
    out = {"noise_constant": config.noise_constant, "adam_c2": config.adam_c2,
           "adam_c2_eta": config.adam_c2 * config.adam_learning_rate, "depths": {}}
    for depth, rec in results.items():
        d = {"timings_s": {k: round(v, 2) for k, v in rec["timings"].items()}}
        for name in OPTIMIZER_NAMES:
            disc, flow = rec["discrete"][name], rec["slow"][name]
            d[name] = {m: agreement(disc, flow, m) for m in METRICS if m != "train_loss"}
            d[name]["discrete_steps"] = disc["steps"]
            d[name]["discrete_runs_not_ok"] = int(np.sum(disc["status"] != 0))
            d[name]["discrete_max_distance_to_manifold"] = float(np.max(disc["distance_to_manifold"]))
            d[name]["slow_solver_steps"] = flow["solver_steps"]
            d[name]["slow_max_distance_corrected"] = flow["max_distance_corrected"]
        claims = {}
        for route in ROUTES:
            def end(name, metric, route=route):
                x = rec[route][name][metric]
                return float(x[:, -1].mean() if route == "discrete" else x[-1])

            claims[route] = {
                "sgd_trace_hessian_lower": end("sgd", "trace_hessian") < end("adam", "trace_hessian"),
                "adam_trace_sqrt_diag_lower": end("adam", "trace_sqrt_diag_hessian") < end("sgd", "trace_sqrt_diag_hessian"),
                "adam_test_error_higher": end("adam", "test_error") > end("sgd", "test_error"),
            }
        d["claims_li_wen_lyu_s6"] = claims
        d["verdict"] = verdict_table(rec)
        out["depths"][str(depth)] = d
    return out


def verdict_table(rec: dict) -> dict:
    """End values at t = T behind the §6 claim: per optimizer, the discrete mean ± s.e. over seeds and the
    slow flow's value of tr H, tr Diag(H)^½ and the test error, plus the claim's three statements read on
    the discrete means (Li–Wen–Lyu §6: Adam's tr Diag(H)^½ lower, its tr H not lower, its test error higher)."""
    table = {}
    for name in OPTIMIZER_NAMES:
        row = {}
        for m in ("trace_hessian", "trace_sqrt_diag_hessian", "test_error"):
            x = np.asarray(rec["discrete"][name][m])[:, -1]
            row[m] = {"discrete_mean": float(x.mean()), "discrete_se": float(x.std(ddof=1) / math.sqrt(x.size)),
                      "slow": float(np.asarray(rec["slow"][name][m])[-1])}
        table[name] = row

    def mean(o, m):
        return table[o][m]["discrete_mean"]

    table["statements_discrete"] = {
        "adam_trace_sqrt_diag_lower": mean("adam", "trace_sqrt_diag_hessian") < mean("sgd", "trace_sqrt_diag_hessian"),
        "adam_trace_hessian_not_lower": mean("adam", "trace_hessian") >= mean("sgd", "trace_hessian"),
        "adam_test_error_higher": mean("adam", "test_error") > mean("sgd", "test_error"),
    }
    return table


def to_dataset(config: Config, results: dict):
    import xarray as xr

    depths = list(results)
    times = config.slow_time * np.arange(config.num_logs + 1) / config.num_logs
    data = {}
    for m in METRICS + ("distance_to_manifold",):
        data[f"discrete_{m}"] = (("depth", "optimizer", "seed", "slow_time"), np.stack(
            [np.stack([results[d]["discrete"][o][m] for o in OPTIMIZER_NAMES]) for d in depths]))
        data[f"slow_{m}"] = (("depth", "optimizer", "slow_time"), np.stack(
            [np.stack([results[d]["slow"][o][m] for o in OPTIMIZER_NAMES]) for d in depths]))
    data["discrete_status"] = (("depth", "optimizer", "seed"), np.stack(
        [np.stack([results[d]["discrete"][o]["status"] for o in OPTIMIZER_NAMES]) for d in depths]))
    attrs = {"experiment": "matrix-factorization", "config": json.dumps(asdict(config)),
             "sources": "Li-Wen-Lyu 2025 s6; docs/theory.md s3, s4.4, s4.6"}
    return xr.Dataset(data, coords={"depth": depths, "optimizer": list(OPTIMIZER_NAMES),
                                    "seed": np.arange(config.seeds), "slow_time": times}, attrs=attrs)


def run(config: Config, out_dir: Path) -> dict:
    enable_x64()  # the flows, projections and Hessian traces need float64
    import sys

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = compute(config, progress=sys.stderr)
    summary = summarize(config, results)
    curves = {str(d): {route: {o: {m: np.asarray(rec[route][o][m]).tolist() for m in METRICS}
                               for o in OPTIMIZER_NAMES} for route in ROUTES}
              for d, rec in results.items()}
    atomic_write_text(out_dir / "results.json", json.dumps(
        {"config": asdict(config), "summary": summary, "curves": curves}, indent=2, default=str))
    files = [out_dir / "results.json"]
    files.append(write_netcdf(out_dir / "results.nc", to_dataset(config, results)))
    try:
        from implicit_bias_lab.figures.matrix_factorization import plot_sharpness_vs_slow_time

        files.append(plot_sharpness_vs_slow_time(config, results, out_dir))
    except ImportError as err:  # matplotlib missing: results still written
        summary["figure"] = f"skipped: {err}"
    summary["files"] = [str(f) for f in files]
    wall = time.perf_counter() - t0
    summary["wall_time_s"] = round(wall, 1)
    write_manifest(out_dir, config, wall_time_s=wall, extra={"summary": summary})
    return summary
