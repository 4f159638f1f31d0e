"""Integration routes for the first-order SDEs of `sde.first_order` (all Itô, Euler–Maruyama).

Brownian increments are keyed by the integer step, as the discrete engine keys its noise:
the increment of step k (over [kΔt, (k+1)Δt]) is

    ΔW_k = √Δt · N(0, I_m) drawn from `jax.random.fold_in(key, k)`,

k the *global* step index (times are t_k = kΔt from 0; `start_step` continues a run). So

* a path does not depend on how runs are batched or how a long run is split;
* with Δt = `sde.time_per_step` (η for SGD, η² for RMSprop/Adam) step k of the SDE uses the same
  standard normal z_k as step k of the discrete engine (exactly the discrete draw for
  `IsotropicNoise` and Gaussian full-batch `LabelNoise`): discrete and SDE runs share noise;
* step indices stay integers (no float → int32 bit tricks): diffrax ≤ 0.7.2's
  `UnsafeBrownianPath` repeats increments past t/Δt ≈ 2²⁴ (docs/theory.md#91-noise-keyed-by-integer-step).

Routes:
* `euler_maruyama` — `lax.scan` Euler–Maruyama (the core route; vmappable; `_runs` blocks runs
  with `sde.batching.blocked_vmap` so results are bitwise independent of batching);
* `diffrax_solve` — `diffrax.diffeqsolve` with MultiTerm(ODETerm, ControlTerm), `Euler()` on the
  uniform grid t_k = kΔt (`StepTo`), fed by `KeyedBrownianPath` (the same increments: the two routes
  agree to rounding) or by a `diffrax.VirtualBrownianTree` (other increments; for cross-checks).

Both return an `SDEPath` with a per-path `status` (`RunStatus`: OK / DIVERGED / NONFINITE). The scan
route freezes a run at its last good state, as the discrete engine does; the Diffrax route cannot
stop one path of a solve, so it flags the first bad logged state and keeps the last good one.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, Mapping, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jax import Array

from implicit_bias_lab.models.base import AbstractProblem
from implicit_bias_lab.sde.batching import blocked_vmap
from implicit_bias_lab.sde.discrete.simulate import cast_floats, check_schedule
from implicit_bias_lab.sde.scan import all_finite, logged_scan
from implicit_bias_lab.sde.status import RunStatus
from implicit_bias_lab.sde.first_order import AbstractFirstOrderSDE

Metric = Callable[[AbstractProblem, Array], Array]
"""A logged quantity `metric(problem, theta)` (the same signature as the discrete engine's)."""

BROWNIAN_PATHS = ("keyed", "virtual")


class SDEPath(NamedTuple):
    """Result of one run (or, from the `_runs` functions, many: leading runs axis everywhere)."""

    state: Any  # final state (last good state for a flagged run)
    log_steps: Array  # integer step indices k of the logs
    log_times: Array  # t = kΔt
    logs: dict[str, Array]
    status: Array  # RunStatus
    stopped_step: Array  # first bad step (scan) / first bad logged step (Diffrax); −1 if OK


# ----------------------------------------------------------------------------- keyed increments
def brownian_increment(key: Array, step, dt, shape, dtype) -> Array:
    """ΔW_k = √Δt · N(0, I) from `fold_in(key, k)`: the increment over [kΔt, (k+1)Δt]."""
    z = jax.random.normal(jax.random.fold_in(key, step), shape, dtype)
    return jnp.sqrt(jnp.asarray(dt, dtype)) * z


class KeyedBrownianPath(diffrax.AbstractBrownianPath):
    """A Brownian path on the grid t_k = kΔt whose increment over [t_k, t_{k+1}] is
    `brownian_increment(key, k, Δt, ...)`: the scan route's increments, for Diffrax.

    Only single-step increments can be evaluated (k = round(t0/Δt) in float64, an integer;
    exact while t/Δt < 2⁵²); `evaluate(t0, t1)` over any other interval raises at run time.
    Use with a fixed grid of step Δt (`StepTo(kΔt)` or `ConstantStepSize`) and `Euler()`.
    """

    key: Array
    dt: float
    shape: jax.ShapeDtypeStruct = eqx.field(static=True)
    levy_area: type = eqx.field(static=True, default=diffrax.BrownianIncrement)

    @property
    def t0(self):
        return -jnp.inf

    @property
    def t1(self):
        return jnp.inf

    def evaluate(self, t0, t1=None, left: bool = True, use_levy: bool = False):
        del left
        if t1 is None:
            raise ValueError("KeyedBrownianPath gives increments over one step only: call evaluate(t0, t1)")
        dtype = self.shape.dtype
        t0 = jnp.asarray(t0, jnp.float64 if jax.config.jax_enable_x64 else dtype)
        t1 = jnp.asarray(t1, t0.dtype)
        k0 = jnp.round(t0 / self.dt)
        k1 = jnp.round(t1 / self.dt)
        w = brownian_increment(self.key, k0.astype(jnp.int32), self.dt, self.shape.shape, dtype)
        w = eqx.error_if(
            w,
            (k1 - k0 != 1) | (jnp.abs(t0 - k0 * self.dt) > 1e-6 * self.dt),
            "KeyedBrownianPath: evaluate(t0, t1) must span exactly one grid step [kΔt, (k+1)Δt]",
        )
        if use_levy:
            return diffrax.BrownianIncrement(dt=jnp.asarray(t1 - t0, dtype), W=w)
        return w


# ----------------------------------------------------------------------------- shared checks
def _check_dt(dt) -> None:
    if isinstance(dt, numbers.Real) and not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")


def _resolve_dt(sde: AbstractFirstOrderSDE, dt):
    dt = sde.time_per_step if dt is None else dt
    _check_dt(dt)
    return dt


def _check_state(sde: AbstractFirstOrderSDE, state0, batched: bool = False) -> None:
    D = sde.problem.num_params
    lead = 1 if batched else 0
    for name, leaf in zip(type(state0)._fields, state0) if hasattr(state0, "_fields") else ():
        shape = jnp.shape(leaf)
        if len(shape) != lead + 1 or shape[-1] != D:
            want = f"(runs, {D})" if batched else f"({D},)"
            raise ValueError(f"state0.{name} must have shape {want}, got {shape}")


def _measure(metrics, problem, theta):
    return {name: jnp.asarray(fn(problem, theta)) for name, fn in metrics.items()}


# ----------------------------------------------------------------------------- scan route
def euler_maruyama(
    sde: AbstractFirstOrderSDE,
    state0: Any,
    key: Array,
    *,
    num_steps: int,
    log_every: int,
    dt: float | None = None,
    metrics: Mapping[str, Metric] | None = None,
    start_step: int = 0,
    divergence_threshold: float = 1e8,
) -> SDEPath:
    """Euler–Maruyama by `lax.scan`: X_{k+1} = X_k + (b(t_k, X_k)Δt + G(t_k, X_k)ΔW_k), t_k = kΔt.

    Δt defaults to `sde.time_per_step` (one optimizer step). Step k uses `brownian_increment(key,
    k, Δt)`. Jittable and vmappable; the dtype is that of `state0.theta`.
    """
    check_schedule(num_steps, log_every, start_step)
    dt = _resolve_dt(sde, dt)
    metrics = dict(metrics or {})
    dtype = jnp.result_type(sde.parameters(state0))
    sde = cast_floats(sde, dtype)
    problem = sde.problem
    m = sde.noise_dimension

    def advance(state, k):
        t = k.astype(dtype) * jnp.asarray(dt, dtype)
        dW = brownian_increment(key, k, dt, (m,), dtype)
        b = sde.drift(t, state)
        g = sde.diffusion(t, state, dW)
        return jax.tree_util.tree_map(lambda y, f, n: y + (f * jnp.asarray(dt, dtype) + n), state, b, g)

    state, log_steps, logs, status, stopped = logged_scan(
        advance, state0, params=sde.parameters, finite=all_finite, measure=lambda s: _measure(metrics, problem, sde.parameters(s)),
        num_steps=num_steps, log_every=log_every, start_step=start_step, divergence_threshold=divergence_threshold,
    )
    return SDEPath(state, log_steps, log_steps.astype(dtype) * jnp.asarray(dt, dtype), logs, status, stopped)


# ----------------------------------------------------------------------------- Diffrax route
def diffrax_solve(
    sde: AbstractFirstOrderSDE,
    state0: Any,
    key: Array,
    *,
    num_steps: int,
    log_every: int,
    dt: float | None = None,
    metrics: Mapping[str, Metric] | None = None,
    start_step: int = 0,
    brownian: str = "keyed",
    divergence_threshold: float = 1e8,
) -> SDEPath:
    """Euler–Maruyama by `diffrax.diffeqsolve`: MultiTerm(ODETerm(b), ControlTerm(G, W)), `Euler()`,
    steps `StepTo(t_k = kΔt)`, `SaveAt` every `log_every` steps.

    `brownian="keyed"`: W is `KeyedBrownianPath(key, Δt)` — the same increments as
    `euler_maruyama`, so both routes give the same path (to rounding). `brownian="virtual"`: a
    `diffrax.VirtualBrownianTree` (tol Δt/2) from `key` — exact Brownian motion, other increments,
    slow (it bisects at every step); for statistical cross-checks only.
    """
    check_schedule(num_steps, log_every, start_step)
    if brownian not in BROWNIAN_PATHS:
        raise ValueError(f"brownian must be one of {BROWNIAN_PATHS}, got {brownian!r}")
    dt = _resolve_dt(sde, dt)
    metrics = dict(metrics or {})
    dtype = jnp.result_type(sde.parameters(state0))
    sde = cast_floats(sde, dtype)
    problem = sde.problem
    m = sde.noise_dimension
    num_logs = num_steps // log_every
    steps = start_step + jnp.arange(num_steps + 1, dtype=jnp.int64)
    ts = steps.astype(dtype) * jnp.asarray(dt, dtype)
    log_steps = steps[::log_every]
    save_ts = ts[::log_every]
    shape = jax.ShapeDtypeStruct((m,), dtype)
    if brownian == "keyed":
        path = KeyedBrownianPath(key, dt, shape)
    else:
        path = diffrax.VirtualBrownianTree(ts[0], ts[-1], tol=dt / 2, shape=shape, key=key)

    def diffusion_operator(t, y, args):
        return lx.FunctionLinearOperator(lambda dW: sde.diffusion(t, y, dW), shape)

    terms = diffrax.MultiTerm(
        diffrax.ODETerm(lambda t, y, args: sde.drift(t, y)),
        diffrax.ControlTerm(diffusion_operator, path),
    )
    sol = diffrax.diffeqsolve(
        terms,
        diffrax.Euler(),
        ts[0],
        ts[-1],
        dt0=None,
        y0=state0,
        saveat=diffrax.SaveAt(ts=save_ts),
        stepsize_controller=diffrax.StepTo(ts),
        max_steps=num_steps,
        throw=False,
    )
    ys = sol.ys  # leading axis: the num_logs + 1 saved times

    def leaf_ok(leaf):
        return jnp.all(jnp.isfinite(leaf).reshape(leaf.shape[0], -1), axis=1)

    finite = jnp.all(jnp.stack([leaf_ok(leaf) for leaf in jax.tree_util.tree_leaves(ys)]), axis=0)
    theta_all = jax.vmap(sde.parameters)(ys)
    bounded = jnp.all(jnp.abs(theta_all).reshape(num_logs + 1, -1) <= divergence_threshold, axis=1)
    good = finite & bounded & (sol.result == diffrax.RESULTS.successful)
    any_bad = ~jnp.all(good)
    first_bad = jnp.argmin(good)  # first False
    status = jnp.where(
        any_bad, jnp.where(finite[first_bad], RunStatus.DIVERGED, RunStatus.NONFINITE), RunStatus.OK
    ).astype(jnp.int32)
    stopped = jnp.where(any_bad, log_steps[first_bad], -1).astype(jnp.int32)
    last_good = jnp.where(any_bad, jnp.maximum(first_bad - 1, 0), num_logs)
    state = jax.tree_util.tree_map(lambda a: a[last_good], ys)
    logs = jax.vmap(lambda th: _measure(metrics, problem, th))(theta_all)
    return SDEPath(state, log_steps, save_ts, logs, status, stopped)


# ----------------------------------------------------------------------------- many runs
ROUTES = {"scan": euler_maruyama, "diffrax": diffrax_solve}


def integrate(sde: AbstractFirstOrderSDE, state0: Any, key: Array, *, route: str = "scan", **kwargs) -> SDEPath:
    """One run by `route` ('scan' → `euler_maruyama`, 'diffrax' → `diffrax_solve`)."""
    if route not in ROUTES:
        raise ValueError(f"route must be one of {sorted(ROUTES)}, got {route!r}")
    _check_state(sde, state0)
    return ROUTES[route](sde, state0, key, **kwargs)


def integrate_runs(
    sde: AbstractFirstOrderSDE,
    state0: Any,
    keys: Array,
    *,
    route: str = "scan",
    block_size: int = 8,
    **kwargs,
) -> SDEPath:
    """Many runs of one SDE: every leaf of `state0` and `keys` carries a leading runs axis.

    Validated in Python, then jitted; runs are evaluated in blocks of `block_size`
    (`sde.batching.blocked_vmap`), so a run's result does not depend on the number of runs.
    """
    if route not in ROUTES:
        raise ValueError(f"route must be one of {sorted(ROUTES)}, got {route!r}")
    check_schedule(kwargs.get("num_steps", 0), kwargs.get("log_every", 1), kwargs.get("start_step", 0))
    _resolve_dt(sde, kwargs.get("dt"))
    _check_state(sde, state0, batched=True)
    runs = jnp.shape(sde.parameters(state0))[0]
    if jnp.shape(keys)[0] != runs:
        raise ValueError(f"keys must have one entry per run ({runs}), got {jnp.shape(keys)[0]}")
    return _integrate_runs_jit(sde, state0, keys, route, int(block_size), kwargs)


@eqx.filter_jit
def _integrate_runs_jit(sde, state0, keys, route, block_size, kwargs):
    # Module-level: calls with equal static settings (hyperparameters, schedule, metric
    # functions) and equal shapes reuse one compiled program.
    fn = ROUTES[route]

    def one_run(batched):
        s0, key = batched
        return fn(sde, s0, key, **kwargs)

    return blocked_vmap(one_run, block_size)((state0, keys))
