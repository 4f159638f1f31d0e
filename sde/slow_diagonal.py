"""Label-noise slow flows on a diagonal net w = u⊙u − v⊙v, θ = (u, v) ∈ R^{2d}, data X (n×d).

Closed forms (shared/science/slow_sde.md §6; details §9 and Part II A6), m_i = mean_k X_ki²:
* J = [2X D_u, −2X D_v]; the normal space of Γ = {Xw = y} is range Jᵀ.
* SGD flow: θ̇ = −2c P_∥(m⊙u, m⊙v), P_∥ g = g − Jᵀ(JJᵀ)⁺Jg.
* Adam flow: θ̇ = −2c ∂Φ_S(m⊙S²⊙θ), ∂Φ_S g = g − SJᵀ(JSJᵀ)⁺Jg, S = 1/(√v + ε);
  quasi-static v = 4c m⊙θ² at ε = 0 gives θ̇ = −½∂Φ_S(1/θ): θ_j² = θ_j(0)² − t until the
  first extinction (independent of c).
* s = θ² form with events (quasi-static Adam, ε = 0), a_j = 1[s_j > 0], + for u_i, − for v_i:
  ṡ_j = a_j(−1 ± √s_j⟨x_:i, μ⟩/√m_i), [X Diag((√s_u + √s_v)/√m) Xᵀ] μ = X(a_u − a_v)
  (the notes' λ equals (2/√c)μ; c drops out). Dead coordinates stay 0 and X(s_u − s_v) is
  preserved exactly.

Only n×n Gram matrices J S Jᵀ = 4X Diag(S_u u² + S_v v²)Xᵀ are formed (never 2d×2d), with
eigh-based pseudo-inverses (Γ is singular at sparse points). Everything is jittable and vmappable
over instances (X, y, θ0).
"""

from __future__ import annotations

from typing import NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import optimistix as optx
from jax import Array

from sde.manifold import gram_pinv_solve

jax.config.update("jax_enable_x64", True)

# status codes of the integrators
RUNNING, CONVERGED, MAX_TIME, MAX_PHASES, FAILED = 0, 1, 2, 3, 4
STATUS_NAMES = {RUNNING: "running", CONVERGED: "converged", MAX_TIME: "max_time", MAX_PHASES: "max_phases", FAILED: "failed"}


def second_moments(X: Array) -> Array:
    """m_i = (1/n)Σ_k X_ki² (= 1 for ±1 data)."""
    return jnp.mean(X * X, axis=0)


def split(theta: Array) -> tuple[Array, Array]:
    """(u, v) from θ = (u, v)."""
    d = theta.shape[-1] // 2
    return theta[..., :d], theta[..., d:]


def effective_weights(theta: Array) -> Array:
    """w = u⊙u − v⊙v."""
    u, v = split(theta)
    return u * u - v * v


def jacobian(X: Array, theta: Array) -> Array:
    """J = ∂f/∂θ = [2X D_u, −2X D_v], shape (n, 2d) (for small problems and tests)."""
    u, v = split(theta)
    return jnp.concatenate([2 * X * u, -2 * X * v], axis=1)


def _J_apply(X, theta, g):
    """J g = 2X(u⊙g_u − v⊙g_v)."""
    u, v = split(theta)
    gu, gv = split(g)
    return 2 * X @ (u * gu - v * gv)


def _JT_apply(X, theta, lam):
    """Jᵀ λ = (2u⊙Xᵀλ, −2v⊙Xᵀλ)."""
    u, v = split(theta)
    z = X.T @ lam
    return jnp.concatenate([2 * u * z, -2 * v * z])


def _gram(X, theta, S=None):
    """J S Jᵀ = 4X Diag(S_u u² + S_v v²)Xᵀ (n×n); S = 1 when None."""
    u, v = split(theta)
    if S is None:
        k = u * u + v * v
    else:
        Su, Sv = split(S)
        k = Su * u * u + Sv * v * v
    return 4 * (X * k) @ X.T


def project_tangent(X: Array, theta: Array, g: Array, rtol: float = 1e-12) -> Array:
    """P_∥g = g − Jᵀ(JJᵀ)⁺Jg (orthogonal projection onto T_θΓ)."""
    return g - _JT_apply(X, theta, gram_pinv_solve(_gram(X, theta), _J_apply(X, theta, g), rtol))


def project_oblique(X: Array, theta: Array, S: Array, g: Array, rtol: float = 1e-12) -> Array:
    """∂Φ_S g = g − S Jᵀ(JSJᵀ)⁺Jg (slow_sde.md §4.2 with N = Jᵀ)."""
    lam = gram_pinv_solve(_gram(X, theta, S), _J_apply(X, theta, g), rtol)
    return g - S * _JT_apply(X, theta, lam)


def sgd_flow_velocity(X: Array, theta: Array, noise_scale: float, rtol: float = 1e-12) -> Array:
    """θ̇ = −(c/4)P_∥∇tr H = −2c P_∥(m⊙u, m⊙v) on Γ (slow_sde.md §6)."""
    m = second_moments(X)
    mm = jnp.concatenate([m, m])
    return -2 * noise_scale * project_tangent(X, theta, mm * theta, rtol)


def adam_fixed_point_v(X: Array, theta: Array, noise_scale: float) -> Array:
    """v* = c·diag H = 4c(m⊙u², m⊙v²)."""
    m = second_moments(X)
    return 4 * noise_scale * jnp.concatenate([m, m]) * theta * theta


def adam_flow_velocity(
    X: Array, theta: Array, noise_scale: float, v: Array | None = None, eps: float = 0.0, power: float = 0.5,
    rtol: float = 1e-12,
) -> Array:
    """θ̇ = −(c/4)∂Φ_S S∇³L[S] = −2c ∂Φ_S(m⊙S²⊙θ), S = 1/(v^power + ε), v = c·diag H if None
    (corrected Li–Wen–Lyu flow, slow_sde.md §6). Singular (∝1/θ_j) as θ_j → 0 at ε = 0."""
    m = second_moments(X)
    mm = jnp.concatenate([m, m])
    v = adam_fixed_point_v(X, theta, noise_scale) if v is None else v
    S = 1.0 / (jnp.clip(v, 0.0) ** power + eps)
    return -2 * noise_scale * project_oblique(X, theta, S, mm * S * S * theta, rtol)


def adam_phase1_closed_form(theta0: Array, t: Array | float) -> Array:
    """θ_j(t) = sign θ_j(0)·√(θ_j(0)² − t): quasi-static Adam, ε = 0, valid while all u_i, v_i ≠ 0."""
    return jnp.sign(theta0) * jnp.sqrt(jnp.clip(theta0 * theta0 - t, 0.0))


# ----------------------------------------------------------------------------- s-form
def adam_s_velocity(X: Array, s: Array, alive: Array, rtol: float = 1e-12) -> Array:
    """ṡ_j = a_j(−1 ± √s_j⟨x_:i, μ⟩/√m_i), [X Diag((√s_u+√s_v)/√m) Xᵀ]μ = X(a_u − a_v)."""
    m = second_moments(X)
    r = jnp.sqrt(jnp.clip(s, 0.0)) * alive
    ru, rv = split(r)
    au, av = split(alive.astype(s.dtype))
    K = (X * ((ru + rv) / jnp.sqrt(m))) @ X.T
    mu = gram_pinv_solve(K, X @ (au - av), rtol)
    z = (X.T @ mu) / jnp.sqrt(m)
    return alive * (-1.0 + r * jnp.concatenate([z, -z]))


class DiagonalFlowResult(NamedTuple):
    """Final state of a diagonal-net slow flow (batched under vmap).

    theta (2d,), w (d,), t: slow time reached, status: CONVERGED / MAX_TIME / MAX_PHASES / FAILED
    (see STATUS_NAMES), num_phases (Adam s-form: phases between events; SGD: 1),
    max_residual: max_k |⟨x_k, w⟩ − y_k|.
    """

    theta: Array
    w: Array
    t: Array
    status: Array
    num_phases: Array
    max_residual: Array


def _s_phase(X, s, alive, t0, t1, rtol, atol, stat_tol, max_steps):
    """One phase of the s-form from t0 with fixed alive set; stops at t1, an extinction
    s_j = 0 of an alive coordinate (root-found), or stationarity max|ṡ| ≤ stat_tol."""
    big = 1e300

    def field(t, y, args):
        return adam_s_velocity(X, y, alive)

    def extinction(t, y, args, **kw):
        return jnp.min(jnp.where(alive, y, big))

    def stationary(t, y, args, **kw):
        return jnp.max(jnp.abs(adam_s_velocity(X, y, alive))) <= stat_tol

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field), diffrax.Tsit5(), t0, t1, None, s,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        event=diffrax.Event((extinction, stationary), root_finder=optx.Newton(rtol=1e-12, atol=1e-14)),
        max_steps=max_steps, throw=False,
    )
    mask = sol.event_mask if sol.event_mask is not None else (False, False)
    ok = (sol.result == diffrax.RESULTS.successful) | (sol.result == diffrax.RESULTS.event_occurred)
    return sol.ts[-1], sol.ys[-1], mask[0], mask[1], ok


def _max_residual(X, y, w):
    return jnp.max(jnp.abs(X @ w - y)) if y is not None else jnp.asarray(jnp.nan)


@eqx.filter_jit
def integrate_adam_flow(
    X: Array,
    y: Array | None,
    theta0: Array,
    t1: float,
    *,
    max_phases: int = 10_000,
    stat_tol: float = 1e-9,
    death_tol: float = 1e-12,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    max_steps_per_phase: int = 4096,
) -> DiagonalFlowResult:
    """Quasi-static Adam slow flow (ε = 0) in the s = θ² form with events (slow_sde.md §6).

    Phases: integrate with the alive set a fixed until an alive s_j reaches 0 (root-found event),
    mark every alive coordinate with s_j ≤ death_tol·max s(0) dead (s_j = 0), restart; stop at
    stationarity (max|ṡ| ≤ stat_tol: CONVERGED), at t1 (MAX_TIME) or after max_phases.
    Phase 1 (all pairs alive) is exactly s = s(0) − t. Signs of θ are those of θ0 (zeros start
    dead). Does not depend on the label-noise scale c (Adam's drift is scale-invariant).
    jit-compiled; vmap over (X, y, theta0) for sweeps.
    """
    theta0 = jnp.asarray(theta0)
    sign = jnp.where(theta0 >= 0, 1.0, -1.0)
    s0 = theta0 * theta0
    alive0 = s0 > 0
    kill = death_tol * jnp.maximum(jnp.max(s0), 1.0)
    t1 = jnp.asarray(t1, s0.dtype)

    def cond(carry):
        t, s, alive, k, status = carry
        return status == RUNNING

    def body(carry):
        t, s, alive, k, status = carry
        t_new, s_new, hit_zero, hit_stat, ok = _s_phase(X, s, alive, t, t1, rtol, atol, stat_tol, max_steps_per_phase)
        dead_now = alive & (s_new <= kill)
        alive_new = alive & ~dead_now
        s_new = jnp.where(alive_new, jnp.clip(s_new, 0.0), 0.0)
        k = k + 1
        bad = ~ok | ~jnp.all(jnp.isfinite(s_new))
        status = jnp.where(
            bad, FAILED,
            jnp.where(hit_stat & ~hit_zero, CONVERGED,
                      jnp.where(t_new >= t1, MAX_TIME, jnp.where(k >= max_phases, MAX_PHASES, RUNNING))),
        )
        return t_new, s_new, alive_new, k, status

    init = (jnp.asarray(0.0, s0.dtype), s0, alive0, jnp.asarray(0), jnp.asarray(RUNNING))
    t, s, alive, k, status = jax.lax.while_loop(cond, body, init)
    theta = sign * jnp.sqrt(s)
    w = effective_weights(theta)
    return DiagonalFlowResult(theta, w, t, status, k, _max_residual(X, y, w))


def _retract_s(X: Array, y: Array, s: Array, alive: Array) -> Array:
    """Put s back on X(s_u − s_v) = y, moving only alive coordinates, each by ∝ √s_j (so small ones
    stay small): s_u += √s_u⊙Xᵀλ, s_v −= √s_v⊙Xᵀλ with [X Diag(√s_u + √s_v) Xᵀ]λ = y − X(s_u − s_v)."""
    q = jnp.sqrt(jnp.clip(s, 0.0)) * alive
    qu, qv = split(q)
    su, sv = split(s)
    lam = gram_pinv_solve((X * (qu + qv)) @ X.T, y - X @ (su - sv))
    z = X.T @ lam
    return jnp.clip(s + jnp.concatenate([qu * z, -qv * z]), 0.0) * alive


@eqx.filter_jit
def integrate_adam_flow_stepped(
    X: Array,
    y: Array,
    theta0: Array,
    t1: float,
    *,
    dt_max: float,
    stat_tol: float = 1e-9,
    max_steps: int = 1_000_000,
) -> DiagonalFlowResult:
    """The quasi-static Adam flow of `integrate_adam_flow` (s = θ² form, ε = 0) by event-driven
    midpoint steps: each step is dt = min(dt_max, time to the next extinction at the current
    velocity, t1 − t); the coordinate that reaches 0 is marked dead, and s is retracted onto
    X(s_u − s_v) = y. Between extinctions the error is O(dt_max²) per unit time; many
    near-simultaneous extinctions cost one step each instead of one adaptive solve each, which
    makes this the route for sweeps (it agrees with the event-located solver to ~1e-9 in w at
    dt_max = 0.01·max θ₀², see tests/test_slow_diagonal_stepped.py). vmappable over (X, y, θ0).
    """
    theta0 = jnp.asarray(theta0)
    sign = jnp.where(theta0 >= 0, 1.0, -1.0)
    s0 = theta0 * theta0
    index = jnp.arange(s0.shape[0])
    t1 = jnp.asarray(t1, s0.dtype)

    def time_to_death(s, alive, vel):
        return jnp.where(alive & (vel < 0), s / jnp.maximum(-vel, 1e-300), jnp.inf)

    def cond(carry):
        t, s, alive, k, status = carry
        return status == RUNNING

    def body(carry):
        t, s, alive, k, status = carry
        v1 = adam_s_velocity(X, s, alive)
        ttd = time_to_death(s, alive, v1)
        first = jnp.argmin(ttd)
        dt = jnp.minimum(jnp.minimum(dt_max, ttd[first]), t1 - t)
        v2 = adam_s_velocity(X, jnp.where(alive, jnp.clip(s + 0.5 * dt * v1, 0.0), 0.0), alive)
        s_new = s + dt * v2
        dying = alive & ((s_new <= 0) | ((dt >= ttd[first]) & (index == first)))
        alive_new = alive & ~dying
        s_new = _retract_s(X, y, jnp.where(alive_new, s_new, 0.0), alive_new)
        t_new = t + dt
        stationary = jnp.max(jnp.abs(v1)) <= stat_tol
        bad = ~jnp.all(jnp.isfinite(s_new))
        status = jnp.where(
            bad, FAILED,
            jnp.where(stationary, CONVERGED, jnp.where(t_new >= t1, MAX_TIME, jnp.where(k + 1 >= max_steps, MAX_PHASES, RUNNING))),
        )
        keep = ~stationary  # a stationary state is final: do not move it
        return jnp.where(keep, t_new, t), jnp.where(keep, s_new, s), jnp.where(keep, alive_new, alive), k + 1, status

    init = (jnp.asarray(0.0, s0.dtype), s0, s0 > 0, jnp.asarray(0), jnp.asarray(RUNNING))
    t, s, alive, k, status = jax.lax.while_loop(cond, body, init)
    theta = sign * jnp.sqrt(s)
    w = effective_weights(theta)
    return DiagonalFlowResult(theta, w, t, status, k, _max_residual(X, y, w))


@eqx.filter_jit
def integrate_sgd_flow_stepped(
    X: Array, y: Array, theta0: Array, t1: float, *, noise_scale: float, num_steps: int = 400
) -> DiagonalFlowResult:
    """The SGD slow flow θ̇ = −2c P_∥(m⊙u, m⊙v) by `num_steps` classical RK4 steps of size t1/num_steps,
    then two Gauss–Newton retractions onto Γ. P_∥ is an orthogonal projection, so the field's
    Lipschitz constant is ≤ 2c·max m_i (+ the projection's curvature): with 2c·m·t1/num_steps ≲ 0.5
    RK4 is accurate to ~1e-6 per unit decay, and unlike an adaptive solver under vmap its cost is
    fixed. The sweep route (see tests/test_slow_diagonal_stepped.py for the agreement). Status is
    CONVERGED when the final velocity is below 1e-8·c, else MAX_TIME."""
    theta0 = jnp.asarray(theta0)
    dt = jnp.asarray(t1, theta0.dtype) / num_steps

    def f(th):
        return sgd_flow_velocity(X, th, noise_scale)

    def rk4(th, _):
        k1 = f(th)
        k2 = f(th + 0.5 * dt * k1)
        k3 = f(th + 0.5 * dt * k2)
        k4 = f(th + dt * k3)
        return th + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None

    theta, _ = jax.lax.scan(rk4, theta0, None, length=num_steps)
    for _ in range(2):
        r = X @ effective_weights(theta) - y
        theta = theta - _JT_apply(X, theta, gram_pinv_solve(_gram(X, theta), r))
    ok = jnp.all(jnp.isfinite(theta))
    still = jnp.max(jnp.abs(f(theta))) <= 1e-8 * noise_scale
    status = jnp.where(~ok, FAILED, jnp.where(still, CONVERGED, MAX_TIME))
    w = effective_weights(theta)
    return DiagonalFlowResult(theta, w, jnp.asarray(t1, theta0.dtype), status, jnp.asarray(1), _max_residual(X, y, w))


@eqx.filter_jit
def integrate_sgd_flow(
    X: Array,
    y: Array | None,
    theta0: Array,
    t1: float,
    *,
    noise_scale: float,
    stat_tol: float = 1e-10,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    max_steps: int = 100_000,
    retract: bool = True,
) -> DiagonalFlowResult:
    """Label-noise SGD slow flow θ̇ = −2c P_∥(m⊙u, m⊙v) from θ0 ∈ Γ to slow time t1 (Tsit5, adaptive).

    Stops early (CONVERGED) when max|θ̇| ≤ stat_tol, else MAX_TIME. With retract=True and y given,
    two Gauss–Newton steps θ ← θ − Jᵀ(JJᵀ)⁺r put the end point back on Γ. Off-support
    coordinates decay like e^{−2c m_i t}: budget t1 accordingly. jit-compiled; vmappable.
    """
    theta0 = jnp.asarray(theta0)

    def field(t, th, args):
        return sgd_flow_velocity(X, th, noise_scale)

    def stationary(t, th, args, **kw):
        return jnp.max(jnp.abs(sgd_flow_velocity(X, th, noise_scale))) <= stat_tol

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(field), diffrax.Tsit5(), 0.0, t1, None, theta0,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        event=diffrax.Event(stationary), max_steps=max_steps, throw=False,
    )
    theta = sol.ys[-1]
    if retract and y is not None:
        for _ in range(2):
            r = X @ effective_weights(theta) - y
            theta = theta - _JT_apply(X, theta, gram_pinv_solve(_gram(X, theta), r))
    ok = (sol.result == diffrax.RESULTS.successful) | (sol.result == diffrax.RESULTS.event_occurred)
    ok = ok & jnp.all(jnp.isfinite(theta))
    hit = sol.event_mask if sol.event_mask is not None else False
    status = jnp.where(~ok, FAILED, jnp.where(hit, CONVERGED, MAX_TIME))
    w = effective_weights(theta)
    return DiagonalFlowResult(theta, w, sol.ts[-1], status, jnp.asarray(1), _max_residual(X, y, w))


__all__ = [
    "CONVERGED",
    "DiagonalFlowResult",
    "FAILED",
    "MAX_PHASES",
    "MAX_TIME",
    "STATUS_NAMES",
    "adam_fixed_point_v",
    "adam_flow_velocity",
    "adam_phase1_closed_form",
    "adam_s_velocity",
    "effective_weights",
    "integrate_adam_flow",
    "integrate_adam_flow_stepped",
    "integrate_sgd_flow",
    "integrate_sgd_flow_stepped",
    "jacobian",
    "project_oblique",
    "project_tangent",
    "second_moments",
    "sgd_flow_velocity",
    "split",
]
