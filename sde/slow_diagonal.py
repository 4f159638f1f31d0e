"""Label-noise slow flows on a diagonal net w = u⊙u − v⊙v, θ = (u, v) ∈ R^{2d}, data X (n×d).

Closed forms (docs/theory.md#6-diagonal-net), m_i = mean_k X_ki²:
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

from functools import partial
from typing import NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax import Array

from implicit_bias_lab.models.diagonal_net import DiagonalNet, second_moments
from implicit_bias_lab.sde.integrators import rk4_step
from implicit_bias_lab.sde.manifold import gram_pinv_solve
from implicit_bias_lab.sde.status import STATUS_NAMES, RunStatus
from implicit_bias_lab.precision import require_x64


# status codes of the integrators: the lab's one vocabulary (sde.status.RunStatus); CONVERGED is OK
RUNNING, CONVERGED, MAX_TIME, MAX_PHASES, FAILED = (
    int(RunStatus.RUNNING), int(RunStatus.OK), int(RunStatus.MAX_TIME), int(RunStatus.MAX_PHASES), int(RunStatus.FAILED))


def split(theta: Array) -> tuple[Array, Array]:
    """(u, v) from θ = (u, v): `models.DiagonalNet.split` with d from θ's shape."""
    return DiagonalNet(theta.shape[-1] // 2).split(theta)


def effective_weights(theta: Array) -> Array:
    """w = u⊙u − v⊙v: `models.DiagonalNet.effective_weights` with d from θ's shape."""
    return DiagonalNet(theta.shape[-1] // 2).effective_weights(theta)


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
    """∂Φ_S g = g − S Jᵀ(JSJᵀ)⁺Jg (docs/theory.md#42-preconditioned-projection with N = Jᵀ)."""
    lam = gram_pinv_solve(_gram(X, theta, S), _J_apply(X, theta, g), rtol)
    return g - S * _JT_apply(X, theta, lam)


def sgd_flow_velocity(X: Array, theta: Array, noise_scale: float, rtol: float = 1e-12) -> Array:
    """θ̇ = −(c/4)P_∥∇tr H = −2c P_∥(m⊙u, m⊙v) on Γ (docs/theory.md#63-sgd-and-adam-flows)."""
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
    (corrected Li–Wen–Lyu flow, docs/theory.md#63-sgd-and-adam-flows). Singular (∝1/θ_j) as θ_j → 0 at ε = 0."""
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
    """Quasi-static Adam slow flow (ε = 0) in the s = θ² form with events (docs/theory.md#65-squared-variable-form-with-events).

    Phases: integrate with the alive set a fixed until an alive s_j reaches 0 (root-found event),
    mark every alive coordinate with s_j ≤ death_tol·max s(0) dead (s_j = 0), restart; stop at
    stationarity (max|ṡ| ≤ stat_tol: CONVERGED), at t1 (MAX_TIME) or after max_phases.
    Phase 1 (all pairs alive) is exactly s = s(0) − t. Signs of θ are those of θ0 (zeros start
    dead). Does not depend on the label-noise scale c (Adam's drift is scale-invariant).
    jit-compiled; vmap over (X, y, theta0) for sweeps.
    """
    require_x64("sde.slow_diagonal.integrate_adam_flow")
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


class _FlowOptions(NamedTuple):
    """Static options of `integrate_adam_flow_stepped` and of the per-instance routes (see their docstrings)."""

    closed_form_phase1: bool
    linalg: str  # "cholesky" (eigh pseudo-inverse fallback), "cholesky_strict" (FAILED instead) or "eigh"
    reuse_factor: bool
    gram_dtype: object  # None (the data's dtype) or a narrower float dtype for the Gram products
    refine: int  # iterative-refinement sweeps with the full-precision operator
    pivot_rtol: float
    rtol: float
    form: str = "primal"  # "dual": the columns with an alive member are linearly independent (`_dual_solve`)
    factor: str = "stage"  # the SGD flow's RK4: "stage" (a Gram per stage) or "step" (per step, stages 2–4 by PCG)
    cg_rtol: float = 1e-13  # "step": PCG's relative residual
    cg_maxiter: int = 32  # "step": PCG's iterations before the stage forms its own Gram


#: how the SGD flow's per-instance route solves its stages: "stage" forms the n×n Gram at each RK4
#: stage; "step" forms and factors it once per step (stage 1 exact) and solves stages 2–4 by PCG
#: preconditioned with that factor; "auto" is "step" from STEP_FACTOR_MIN_ROWS rows on, for blocks of
#: at least twice as many columns as rows. A Gram costs ∝ n²·C (compute-bound), a PCG iteration ∝
#: n·C (two passes over the block, memory-bound), so "step" gains with n (measured at d = 10⁴, the
#: paper preset's instances, 5–12 iterations a stage: n = 300 1.0×, 500 1.24×, 1000 1.87×;
#: docs/results.md)
STEP_FACTORS = ("auto", "stage", "step")
STEP_FACTOR_MIN_ROWS = 400


def _cholesky_full(K: Array, pivot_rtol: float) -> tuple[Array, Array]:
    """(L, full): K's Cholesky factor (the identity where it fails) and whether K has full rank
    (finite factor, smallest pivot² ≥ pivot_rtol·largest)."""
    L = jnp.linalg.cholesky(K)
    piv = jnp.diag(L)
    full = jnp.all(jnp.isfinite(L)) & (jnp.min(piv) ** 2 >= pivot_rtol * jnp.max(piv) ** 2)
    return jnp.where(full, L, jnp.eye(K.shape[0], dtype=K.dtype)), full


def _pcg(apply_K, b: Array, L: Array, rtol: float, maxiter: int) -> tuple[Array, Array, Array]:
    """(x, converged, iterations): conjugate gradients on Kx = b preconditioned by M = LLᵀ (Saad,
    Iterative Methods for Sparse Linear Systems, 2003, Alg. 9.1), from x = M⁻¹b, until
    ‖b − Kx‖ ≤ rtol‖b‖ or `maxiter` iterations; K is applied as `apply_K` (matrix-free)."""
    M_inv = partial(jax.scipy.linalg.cho_solve, (L, True))
    x = M_inv(b)
    r = b - apply_K(x)
    z = M_inv(r)
    target = (rtol * jnp.linalg.norm(b)) ** 2

    def cond(c):
        x, r, z, q, rz, k = c
        return (jnp.vdot(r, r) > target) & (k < maxiter)

    def body(c):
        x, r, z, q, rz, k = c
        Kq = apply_K(q)
        a = rz / jnp.vdot(q, Kq)
        x, r = x + a * q, r - a * Kq
        z = M_inv(r)
        rz_new = jnp.vdot(r, z)
        return x, r, z, z + (rz_new / rz) * q, rz_new, k + 1

    x, r, _, _, _, k = jax.lax.while_loop(cond, body, (x, r, z, z, jnp.vdot(r, z), 0))
    return x, jnp.vdot(r, r) <= target, k


def _gram_solve(X, k, pad, B, opts: _FlowOptions):
    """(K⁺B, ok) for K = X Diag(k) Xᵀ + Diag(pad), k ≥ 0 (n×n), B of shape (n, p).

    `pad` is max(diag K) on rows of X that are all zero (the sweep's padding rows, where B is 0
    too) and 0 elsewhere: it makes K invertible there without changing K⁺B on the other rows.
    Cholesky while K has full rank (factor finite, smallest pivot² ≥ pivot_rtol·largest), else the
    eigh pseudo-inverse of sde.manifold.gram_pinv_solve (jax.lax.cond; under vmap both run).
    With a narrower `gram_dtype` the product is formed in it and `refine` sweeps of
    x ← x + K̂⁻¹(B − Kx), K applied in full precision as X(k⊙Xᵀx), restore the accuracy.
    ok is False only for "cholesky_strict" on a rank-deficient K, or a non-finite result."""
    dt = X.dtype
    if opts.gram_dtype is None:
        K = (X * k) @ X.T
    else:
        Xl = X.astype(opts.gram_dtype)
        K = ((Xl * k.astype(opts.gram_dtype)) @ Xl.T).astype(dt)
    shift = pad * jnp.maximum(jnp.max(jnp.diag(K)), 1.0)
    K = K + jnp.diag(shift)

    def apply_K(x):
        return X @ (k[:, None] * (X.T @ x)) + shift[:, None] * x

    def refined(solve):
        x = solve(B)
        for _ in range(opts.refine if opts.gram_dtype is not None else 0):
            x = x + solve(B - apply_K(x))
        return x

    def pinv(_):
        return refined(lambda b: gram_pinv_solve(K, b, opts.rtol))

    if opts.linalg == "eigh":
        x = pinv(None)
        return x, jnp.all(jnp.isfinite(x))
    Ls, full = _cholesky_full(K, opts.pivot_rtol)  # the identity where it fails keeps the untaken branch finite

    def chol(_):
        return refined(lambda b: jax.scipy.linalg.cho_solve((Ls, True), b))

    if opts.linalg == "cholesky_strict":
        x = chol(None)
        return x, full & jnp.all(jnp.isfinite(x))
    x = jax.lax.cond(full, chol, pinv, None)
    return x, jnp.all(jnp.isfinite(x))


def one_blas_thread():
    """A context in which the loaded BLAS/LAPACK libraries run on one thread (threadpoolctl). The
    per-instance routes call LAPACK (Cholesky, eigh) on n×n systems between XLA's own GEMMs; on
    the shared cores a multithreaded OpenBLAS keeps its threads spinning after each call and slowed
    the following Gram products by ≈ 30 % (measured at d = 10⁴, n = 500)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def column_bucket(count: int, d: int, min_columns: int = 128) -> int:
    """The block of columns for `count` alive ones: the next of min_columns·{1, 1.5, 2, 3, 4, 6, …}
    (at most 1.5× the count, two shapes per octave), capped at d."""
    size = max(int(min_columns), 1)
    while size < count:
        size = size * 3 // 2 if size & (size - 1) == 0 else size * 4 // 3
    return min(size, d)


def column_bucket_below(size: int, min_columns: int = 128) -> int:
    """The largest block of `column_bucket`'s ladder below `size` (−1 at min_columns or below)."""
    below, nxt = -1, max(int(min_columns), 1)
    while nxt < size:
        below = nxt
        nxt = nxt * 3 // 2 if nxt & (nxt - 1) == 0 else nxt * 4 // 3
    return below


@partial(jax.jit, static_argnames="pivot_rtol")
def _full_column_rank(X: Array, cols: Array, pivot_rtol: float = 1e-10) -> Array:
    """Whether the columns of X marked by `cols` are linearly independent: Cholesky of X_AᵀX_A (the
    unmarked columns get a unit diagonal) finite, smallest pivot² ≥ pivot_rtol·largest."""
    a = cols.astype(X.dtype)
    return _cholesky_full((X.T @ X) * a[:, None] * a[None, :] + jnp.diag(1.0 - a), pivot_rtol)[1]


def _velocity_weights(s, alive, sqm):
    """(r, k): r = √s on alive coordinates, k = (r_u + r_v)/√m (the Gram weights)."""
    r = jnp.sqrt(jnp.clip(s, 0.0)) * alive
    ru, rv = split(r)
    return r, (ru + rv) / sqm


def _dual_velocity(s, alive, r):
    """ṡ when the columns A with an alive member are linearly independent: then
    X_Aᵀ(X_A Diag(k) X_Aᵀ)⁺X_A = Diag(k)⁻¹, so (Xᵀμ)_i/√m_i = (a_u − a_v)_i/(√s_u + √s_v)_i: a column
    with one alive member is stationary (ṡ = 0 exactly), one with both loses s at rate 1 in each,
    as in phase 1 (no solve)."""
    ru, rv = split(r)
    au, av = split(alive.astype(s.dtype))
    q = ru + rv
    z = jnp.where(q > 0, (au - av) / jnp.where(q > 0, q, 1.0), 0.0)
    return alive * (-1.0 + r * jnp.concatenate([z, -z]))


def _dual_coefficients(X, alive, b):
    """The least-squares coefficients of b on the columns A of X with an alive member
    ((X_AᵀX_A)⁻¹X_Aᵀb by Cholesky; the other columns get a unit diagonal and coefficient 0), and
    whether that factorization is finite. With K = X_A Diag(k) X_Aᵀ, (XᵀK⁺b)_A = coefficients/k."""
    au, av = split(alive)
    a = (au | av).astype(X.dtype)
    M = (X.T @ X) * a[:, None] * a[None, :] + jnp.diag(1.0 - a)
    L = jnp.linalg.cholesky(M)
    coef = jax.scipy.linalg.cho_solve((L, True), a * (X.T @ b))
    return coef, jnp.all(jnp.isfinite(L))


def _velocity(X, sqm, pad, s, alive, opts):
    """ṡ of `adam_s_velocity` through `_gram_solve` (and whether the solve succeeded)."""
    r, k = _velocity_weights(s, alive, sqm)
    if opts.form == "dual":
        return _dual_velocity(s, alive, r), True
    au, av = split(alive.astype(s.dtype))
    mu, ok = _gram_solve(X, k, pad, (X @ (au - av))[:, None], opts)
    z = (X.T @ mu[:, 0]) / sqm
    return alive * (-1.0 + r * jnp.concatenate([z, -z])), ok


def _retract_and_velocity(X, y, sqm, pad, s, alive, opts):
    """Retraction onto X(s_u − s_v) = y and the velocity there, from ONE factorization.

    The retraction moves alive s_j by ∝ √s_j/√m_i (`_retract_s` has ∝ √s_j; equal for ±1 data):
    s_u += (√s_u/√m)⊙Xᵀλ, s_v −= (√s_v/√m)⊙Xᵀλ with Kλ = y − X(s_u − s_v), K = X Diag((√s_u+√s_v)/√m)Xᵀ,
    which is exactly the velocity's Gram, so [λ, μ] = K⁺[y − X(s_u − s_v), X(a_u − a_v)] is one solve.
    The velocity is that of the state before the (small) retraction move; it only places the next
    midpoint, times the next extinction and tests stationarity (the midpoint velocity, which moves
    the state, is always solved afresh)."""
    r, k = _velocity_weights(s, alive, sqm)
    su, sv = split(s)
    if opts.form == "dual":  # see `_dual_velocity`; the retraction by least squares on X_A
        coef, ok = _dual_coefficients(X, alive, y - X @ (su - sv))
        zl = jnp.where(k > 0, coef / jnp.where(k > 0, k, 1.0), 0.0) / sqm
        s_ret = jnp.clip(s + r * jnp.concatenate([zl, -zl]) / jnp.concatenate([sqm, sqm]), 0.0) * alive
        return s_ret, _dual_velocity(s, alive, r), ok
    au, av = split(alive.astype(s.dtype))
    B = jnp.stack([y - X @ (su - sv), X @ (au - av)], axis=1)
    sol, ok = _gram_solve(X, k, pad, B, opts)
    Z = (X.T @ sol) / sqm[:, None]
    zl, zm = Z[:, 0], Z[:, 1]
    s_ret = jnp.clip(s + r * jnp.concatenate([zl, -zl]) / jnp.concatenate([sqm, sqm]), 0.0) * alive
    vel = alive * (-1.0 + r * jnp.concatenate([zm, -zm]))
    return s_ret, vel, ok


def _floor_kills(s, vel, alive, floor, n_rows):
    """The alive coordinates to kill early: s_j ≤ floor and heading for 0 (ṡ_j ≤ −½; near 0 a dying
    coordinate has ṡ_j = −1 + O(√s_j)), unless that would leave at most n_rows columns of X with an
    alive member: there the Gram loses rank and the retraction could not absorb the killed mass
    (and a point of Γ with ≤ n independent columns is stationary anyway)."""
    kill = alive & (s <= floor) & (vel <= -0.5)
    au, av = split(alive & ~kill)
    return kill & (jnp.sum(au | av) > n_rows)


def _stepped_loop(X, y, sqm, pad, carry, t1, dt_max, stat_tol, max_steps, floor, col_stop, opts):
    """The event-driven midpoint loop of `integrate_adam_flow_stepped` from `carry` =
    (t, s, alive, k, status, v1); also returns (status RUNNING) once at most `col_stop` columns of X
    have an alive member (the per-instance path then compacts the columns)."""
    index = jnp.arange(carry[1].shape[0])
    n_rows = jnp.sum(jnp.any(X != 0, axis=1))

    def time_to_death(s, alive, vel):
        return jnp.where(alive & (vel < 0), s / jnp.maximum(-vel, 1e-300), jnp.inf)

    def cond(c):
        t, s, alive, k, status, v1 = c
        au, av = split(alive)
        return (status == RUNNING) & (jnp.sum(au | av) > col_stop)

    def body(c):
        t, s, alive, k, status, v1 = c
        ok1 = True
        if not opts.reuse_factor:
            v1, ok1 = _velocity(X, sqm, pad, s, alive, opts)
        ttd = time_to_death(s, alive, v1)
        first = jnp.argmin(ttd)
        dt = jnp.minimum(jnp.minimum(dt_max, ttd[first]), t1 - t)
        v2, ok2 = _velocity(X, sqm, pad, jnp.where(alive, jnp.clip(s + 0.5 * dt * v1, 0.0), 0.0), alive, opts)
        s_new = s + dt * v2
        dying = alive & ((s_new <= 0) | ((dt >= ttd[first]) & (index == first)))
        dying = dying | _floor_kills(s_new, v2, alive & ~dying, floor, n_rows)
        alive_new = alive & ~dying
        s_kill = jnp.where(alive_new, s_new, 0.0)
        if opts.reuse_factor:
            s_new, v_next, ok3 = _retract_and_velocity(X, y, sqm, pad, s_kill, alive_new, opts)
        else:
            s_new, v_next, ok3 = _retract_s(X, y, s_kill, alive_new), v1, True
        t_new = t + dt
        stationary = jnp.max(jnp.abs(v1)) <= stat_tol
        bad = ~(ok1 & ok2 & ok3) | ~jnp.all(jnp.isfinite(s_new)) | ~jnp.all(jnp.isfinite(v_next)) | ~jnp.isfinite(dt)
        status = jnp.where(
            bad, FAILED,
            jnp.where(stationary, CONVERGED, jnp.where(t_new >= t1, MAX_TIME, jnp.where(k + 1 >= max_steps, MAX_PHASES, RUNNING))),
        )
        keep = ~stationary & ~bad  # a stationary state is final; a failed step leaves the last good state
        return (jnp.where(keep, t_new, t), jnp.where(keep, s_new, s), jnp.where(keep, alive_new, alive), k + 1, status,
                jnp.where(keep, v_next, v1))

    return jax.lax.while_loop(cond, body, carry)


def _stepped_start(X, y, sqm, pad, theta0, t1, floor, opts):
    """Initial carry (t, s, alive, k, status, v1): the input check (non-finite X, y or θ0 → FAILED),
    then, with `closed_form_phase1`, phase 1 in closed form: while a_u = a_v (every pair has both or
    neither member alive) the right-hand side X(a_u − a_v) vanishes, μ = 0 and ṡ_j = −1 exactly
    (`adam_phase1_closed_form`; Li, Wen & Lyu, NeurIPS 2025, and the module docstring), so
    s(t) = s(0) − t up to τ = min(min_alive s(0), t1); the coordinates at 0 (and, when τ < t1, those
    ≤ floor) die and the state is retracted."""
    s0 = theta0 * theta0
    alive0 = s0 > 0
    zero = jnp.asarray(0.0, s0.dtype)
    finite = jnp.all(jnp.isfinite(X)) & jnp.all(jnp.isfinite(y)) & jnp.all(jnp.isfinite(theta0))
    s0 = jnp.where(finite, s0, jnp.where(jnp.isfinite(s0), s0, 0.0))
    status0 = jnp.where(finite, RUNNING, FAILED)
    if opts.closed_form_phase1:
        au, av = split(alive0)
        applies = jnp.all(au == av) & jnp.any(alive0)
        tau = jnp.minimum(jnp.min(jnp.where(alive0, s0, jnp.inf)), t1)
        s_p = jnp.where(alive0, jnp.clip(s0 - tau, 0.0), 0.0)
        dying = alive0 & (s_p <= 0)
        n_rows = jnp.sum(jnp.any(X != 0, axis=1))
        dying = dying | (_floor_kills(s_p, -jnp.ones_like(s_p), alive0 & ~dying, floor, n_rows) & (tau < t1))
        alive_p = alive0 & ~dying
        s_p = jnp.where(alive_p, s_p, 0.0)
        if opts.reuse_factor:
            s_r, v_p, ok = _retract_and_velocity(X, y, sqm, pad, s_p, alive_p, opts)
        else:
            s_r, v_p, ok = _retract_s(X, y, s_p, alive_p), jnp.zeros_like(s0), True
        # nothing but zeros died: s_p is on Γ already (no retraction needed; keeps phase 1 exact)
        s_r = jnp.where(jnp.any(dying & (s0 - tau > 0)), s_r, s_p)
        status_p = jnp.where(~ok | ~jnp.all(jnp.isfinite(s_r)), FAILED, jnp.where(tau >= t1, MAX_TIME, RUNNING))
        use = applies & finite
        t = jnp.where(use, tau, zero)
        s = jnp.where(use, s_r, s0)
        alive = jnp.where(use, alive_p, alive0)
        k = jnp.where(use, 1, 0)
        status = jnp.where(use, status_p, status0)
        v_p0 = v_p
    else:
        t, s, alive, k, status, use, v_p0 = zero, s0, alive0, jnp.asarray(0), status0, False, jnp.zeros_like(s0)
    if opts.reuse_factor:
        v_fresh, ok = _velocity(X, sqm, pad, s, alive, opts)
        v1 = jnp.where(use, v_p0, v_fresh)
        status = jnp.where((status == RUNNING) & ~(ok | use), FAILED, status)
    else:
        v1 = jnp.zeros_like(s0)
    return (t, s, alive, jnp.asarray(k), jnp.asarray(status), v1)


def _stepped_options(closed_form_phase1, linalg, reuse_factor, gram_dtype, refine, pivot_rtol, rtol):
    if linalg not in ("cholesky", "cholesky_strict", "eigh"):
        raise ValueError(f"linalg must be 'cholesky', 'cholesky_strict' or 'eigh', got {linalg!r}")
    return _FlowOptions(bool(closed_form_phase1), linalg, bool(reuse_factor),
                        None if gram_dtype is None else jnp.dtype(gram_dtype), int(refine), float(pivot_rtol), float(rtol))


def _finish(X, y, sign, s, t, status, k):
    theta = sign * jnp.sqrt(s)
    w = effective_weights(theta)
    return DiagonalFlowResult(theta, w, t, status, k, _max_residual(X, y, w))


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
    kill_floor: float = 1e-3,
    closed_form_phase1: bool = True,
    linalg: str = "cholesky",
    reuse_factor: bool = True,
    gram_dtype=None,
    refine: int = 2,
    pivot_rtol: float = 1e-10,
    rtol: float = 1e-12,
) -> DiagonalFlowResult:
    """The quasi-static Adam flow of `integrate_adam_flow` (s = θ² form, ε = 0; Li, Wen & Lyu,
    NeurIPS 2025, as corrected in this module's docstring) by event-driven midpoint steps:
    ṡ_j = a_j(−1 ± √s_j⟨x_:i, μ⟩/√m_i), [X Diag((√s_u+√s_v)/√m) Xᵀ]μ = X(a_u − a_v).

    Each step is dt = min(dt_max, time to the next extinction at the current velocity, t1 − t);
    every alive coordinate that ends the step at s_j ≤ kill_floor·max s(0) (≤ 0 when kill_floor = 0,
    always the one whose extinction ended the step) is marked dead, and s is retracted onto
    X(s_u − s_v) = y. Between extinctions the error is O(dt_max²) per unit time; a coordinate killed
    at s_j ≤ floor moves w by ≤ floor (the retraction spreads it), and coordinates approaching 0 at
    rate ≈ 1 within `floor` of each other die in one step, which is what cuts the step count.
    The route for sweeps: vmappable over (X, y, θ0) (see also `integrate_adam_flow_compact` for one
    large instance). Options (static except the floats):

    * closed_form_phase1 — phase 1 (a_u = a_v, so μ = 0 and s = s(0) − t exactly) is one jump to the
      first extinction instead of O(min s(0)/dt_max) steps.
    * linalg — "cholesky": Cholesky of the n×n Gram while it has full rank (finite factor, smallest
      pivot² ≥ pivot_rtol·largest; rows of X that are all zero, the sweep's padding, get a unit
      diagonal), else the eigh pseudo-inverse (`sde.manifold.gram_pinv_solve`, relative cutoff rtol)
      through jax.lax.cond (under vmap both are computed); "cholesky_strict": no fallback, a
      rank-deficient Gram ends the flow with FAILED; "eigh": always the pseudo-inverse.
    * reuse_factor — the end-of-step Gram is factored once for the retraction (weights √s_j/√m_i
      instead of √s_j: equal for ±1 data) and for the next step's first velocity, so a step forms
      2 Grams instead of 3.
    * gram_dtype (e.g. jnp.float32) — form the Gram product in that dtype and correct with `refine`
      iterative-refinement sweeps against the full-precision operator X Diag(k) Xᵀ (matrix–vector
      products only).

    `kill_floor=0, closed_form_phase1=False, linalg="eigh", reuse_factor=False` is the original
    one-extinction-per-step stepper (tests/test_slow_diagonal_fast.py compares the two). Status
    FAILED (with the last finite state) on non-finite input, a non-finite step or a strict Cholesky
    failure — never a silent NaN.
    """
    require_x64("sde.slow_diagonal.integrate_adam_flow_stepped")
    opts = _stepped_options(closed_form_phase1, linalg, reuse_factor, gram_dtype, refine, pivot_rtol, rtol)
    theta0 = jnp.asarray(theta0)
    sign = jnp.where(theta0 >= 0, 1.0, -1.0)
    sqm, pad, floor = _stepped_data(X, theta0, kill_floor, opts)
    t1 = jnp.asarray(t1, theta0.dtype)
    carry = _stepped_start(X, y, sqm, pad, theta0, t1, floor, opts)
    t, s, alive, k, status, _ = _stepped_loop(X, y, sqm, pad, carry, t1, dt_max, stat_tol, max_steps, floor, -1, opts)
    return _finish(X, y, sign, s, t, status, k)


def _stepped_data(X, theta0, kill_floor, opts):
    """(√m with 1 on all-zero columns, the padding-row indicator, the absolute kill floor)."""
    m = second_moments(X)
    sqm = jnp.where(m > 0, jnp.sqrt(jnp.where(m > 0, m, 1.0)), 1.0)
    pad = jnp.zeros(X.shape[0], X.dtype) if opts.linalg == "eigh" else jnp.all(X == 0, axis=1).astype(X.dtype)
    floor = kill_floor * jnp.max(jnp.where(jnp.isfinite(theta0), theta0 * theta0, 0.0))
    return sqm, pad, floor


_stepped_start_jit = eqx.filter_jit(_stepped_start)
_stepped_loop_jit = eqx.filter_jit(_stepped_loop)


def integrate_adam_flow_compact(
    X: Array,
    y: Array,
    theta0: Array,
    t1: float,
    *,
    dt_max: float,
    stat_tol: float = 1e-9,
    max_steps: int = 1_000_000,
    kill_floor: float = 1e-3,
    closed_form_phase1: bool = True,
    linalg: str = "cholesky",
    reuse_factor: bool = True,
    gram_dtype=None,
    refine: int = 2,
    pivot_rtol: float = 1e-10,
    rtol: float = 1e-12,
    min_columns: int = 128,
    dual: bool = True,
) -> DiagonalFlowResult:
    """`integrate_adam_flow_stepped` for ONE instance (not vmappable, not jittable as a whole):
    the same steps, but the Gram X Diag(k) Xᵀ is formed from a gathered block of the columns of X
    that still have an alive member (k_i = 0 on the others, so K is unchanged), and the all-zero
    rows of X (a sweep's padding) are dropped. Each time the alive columns fit a smaller block of
    `column_bucket`'s ladder (≥ min_columns, at most 1.5× the count) a Python driver gathers them
    and resumes the jitted loop there: Gram cost n²·(block) per step instead of n²·d, a handful of
    compilations per (n, d) (cached across instances). Cholesky's eigh fallback is a real branch
    here (no vmap).

    dual=True: once at most n columns have an alive member and they are linearly independent
    (checked once, by a Cholesky of X_AᵀX_A with the pivot test; a subset of independent columns
    stays independent), X_Aᵀ K⁺ X_A = Diag(k)⁻¹ and the velocity has a closed form (`_dual_velocity`:
    a column with one alive member is stationary, one with both loses s at rate 1 in each), the
    retraction solves with X_AᵀX_A. So the flow stops (CONVERGED) exactly where every column has one
    alive member, where the computed primal velocity of the nearly square Gram need not fall below
    stat_tol. Without the rank (equal ±1 columns at small n) the primal route continues.
    Same options and result as `integrate_adam_flow_stepped` up to rounding
    (tests/test_slow_diagonal_fast.py). LAPACK runs on one thread (`one_blas_thread`)."""
    require_x64("sde.slow_diagonal.integrate_adam_flow_compact")
    opts = _stepped_options(closed_form_phase1, linalg, reuse_factor, gram_dtype, refine, pivot_rtol, rtol)
    with one_blas_thread():
        return _adam_flow_compact(X, y, theta0, t1, dt_max, stat_tol, max_steps, kill_floor, opts, min_columns, dual, pivot_rtol)


def _adam_flow_compact(X, y, theta0, t1, dt_max, stat_tol, max_steps, kill_floor, opts, min_columns, dual, pivot_rtol):
    X = jnp.asarray(X)
    y = jnp.asarray(y)
    theta0 = jnp.asarray(theta0)
    d = X.shape[1]
    sign = jnp.where(theta0 >= 0, 1.0, -1.0)
    sqm, pad, floor = _stepped_data(X, theta0, kill_floor, opts)  # m over all rows: the padding counts
    rows = np.flatnonzero(np.any(np.asarray(X) != 0, axis=1))
    Xr, yr, pad = X[rows], y[rows], pad[rows]  # the sweep's zero rows dropped (the flow is unchanged)
    n_rows = len(rows)
    t1 = jnp.asarray(t1, theta0.dtype)
    dt_max = jnp.asarray(dt_max, theta0.dtype)
    stat_tol = jnp.asarray(stat_tol, theta0.dtype)
    max_steps = jnp.asarray(max_steps)
    carry = _stepped_start_jit(Xr, yr, sqm, pad, theta0, t1, floor, opts)
    idx = np.arange(d)
    Xc, sqm_c, C = Xr, sqm, d
    while int(carry[4]) == RUNNING:
        alive = np.asarray(carry[2])
        cols = alive[:C] | alive[C:]
        count = int(cols.sum())
        C_new = column_bucket(count, d, min_columns)
        if C_new < C:
            keep = np.argsort(~cols, kind="stable")[:C_new]
            both = np.concatenate([keep, C + keep])
            idx, cols = idx[keep], cols[keep]
            Xc, sqm_c, C = Xr[:, idx], sqm[idx], C_new
            t, s, al, k, status, v1 = carry
            carry = (t, s[both], al[both], k, status, v1[both])
        if dual and opts.form == "primal" and count <= n_rows and bool(_full_column_rank(Xc, jnp.asarray(cols), pivot_rtol)):
            # the columns with an alive member are independent from here on (a subset stays so)
            opts = opts._replace(form="dual")
            if opts.reuse_factor:  # the next step's first velocity in the dual form
                carry = carry[:5] + (_dual_velocity(carry[1], carry[2], _velocity_weights(carry[1], carry[2], sqm_c)[0]),)
        # hand back at the next smaller block, or (primal) at n_rows columns to test for the dual form
        stop = column_bucket_below(C, min_columns)
        if dual and opts.form == "primal" and count > n_rows:
            stop = max(stop, n_rows)
        carry = _stepped_loop_jit(Xc, yr, sqm_c, pad, carry, t1, dt_max, stat_tol, max_steps, floor, jnp.asarray(stop), opts)
    t, s, al, k, status, _ = carry
    s_full = jnp.zeros(2 * d, theta0.dtype).at[np.concatenate([idx, d + idx])].set(s)
    return _finish(X, y, sign, s_full, t, status, k)


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
    require_x64("sde.slow_diagonal.integrate_sgd_flow_stepped")
    theta0 = jnp.asarray(theta0)
    dt = jnp.asarray(t1, theta0.dtype) / num_steps

    def f(th):
        return sgd_flow_velocity(X, th, noise_scale)

    theta = jax.lax.fori_loop(0, num_steps, lambda _, th: rk4_step(f, th, dt, unrolled=True), theta0)
    for _ in range(2):
        r = X @ effective_weights(theta) - y
        theta = theta - _JT_apply(X, theta, gram_pinv_solve(_gram(X, theta), r))
    ok = jnp.all(jnp.isfinite(theta))
    still = jnp.max(jnp.abs(f(theta))) <= 1e-8 * noise_scale
    status = jnp.where(~ok, FAILED, jnp.where(still, CONVERGED, MAX_TIME))
    w = effective_weights(theta)
    return DiagonalFlowResult(theta, w, jnp.asarray(t1, theta0.dtype), status, jnp.asarray(1), _max_residual(X, y, w))


def _sgd_block_velocity(Xr, Xc, keep, mm, theta, noise_scale, opts: _FlowOptions, factor=None):
    """(θ̇, ok) of the SGD flow, −2c P_∥(m⊙θ), with the n×n Gram J Jᵀ = 4X Diag(u² + v²)Xᵀ formed
    from the gathered columns Xc = Xr[:, keep] only (the others' weights are negligible) and solved
    by `_gram_solve` (Cholesky while of full rank, else the eigh pseudo-inverse), or, given a
    `factor` (L, full) of a nearby Gram of full rank, by PCG preconditioned with it (a solve that
    does not converge in opts.cg_maxiter iterations forms its own Gram); Jg and Jᵀλ over all
    columns (matrix–vector products)."""
    u, v = split(theta)
    g = mm * theta
    k = (u * u + v * v)[keep]
    b = _J_apply(Xr, theta, g)

    def direct():
        return _gram_solve(Xc, 4 * k, jnp.zeros(Xc.shape[0], Xc.dtype), b, opts)

    def preconditioned():
        x, conv, _ = _pcg(lambda q: Xc @ (4 * k * (Xc.T @ q)), b, factor[0], opts.cg_rtol, opts.cg_maxiter)
        return jax.lax.cond(conv, lambda: (x, jnp.asarray(True)), direct)

    # a step factor without full rank (the identity) would make PCG plain CG: solve directly instead
    lam, ok = direct() if factor is None else jax.lax.cond(factor[1], preconditioned, direct)
    return -2 * noise_scale * (g - _JT_apply(Xr, theta, lam)), ok


@partial(jax.jit, static_argnames="opts")
def _sgd_chunk(Xr, Xc, keep, mm, theta, dt, count, noise_scale, opts: _FlowOptions):
    """`count` classical RK4 steps of size dt of the block velocity; ok is False once a solve fails."""

    def step(_, carry):
        th, ok = carry
        factor = None
        if opts.factor == "step":  # the step's start Gram, factored once for its four stages
            u, v = split(th)
            factor = _cholesky_full((Xc * (4 * (u * u + v * v)[keep])) @ Xc.T, opts.pivot_rtol)
        th, oks = rk4_step(lambda z: _sgd_block_velocity(Xr, Xc, keep, mm, z, noise_scale, opts, factor), th, dt, has_aux=True,
                           unrolled=True)
        return th, ok & jnp.all(oks)

    return jax.lax.fori_loop(0, count, step, (theta, jnp.asarray(True)))


@partial(jax.jit, static_argnames="opts")
def _sgd_finish(Xr, yr, Xc, keep, mm, theta, noise_scale, opts: _FlowOptions):
    """Two Gauss–Newton retractions onto Γ (the block Gram) and the final velocity's size."""
    for _ in range(2):
        u, v = split(theta)
        k = (u * u + v * v)[keep]
        r = Xr @ effective_weights(theta) - yr
        lam, _ = _gram_solve(Xc, 4 * k, jnp.zeros(Xc.shape[0], Xc.dtype), r, opts)
        theta = theta - _JT_apply(Xr, theta, lam)
    vel, _ = _sgd_block_velocity(Xr, Xc, keep, mm, theta, noise_scale, opts)
    return theta, jnp.max(jnp.abs(vel))


def integrate_sgd_flow_compact(
    X: Array,
    y: Array,
    theta0: Array,
    t1: float,
    *,
    noise_scale: float,
    num_steps: int = 400,
    linalg: str = "cholesky",
    pivot_rtol: float = 1e-10,
    rtol: float = 1e-12,
    negligible: float = 1e-16,
    min_columns: int = 128,
    chunk_steps: int = 4,
    factor: str = "auto",
) -> DiagonalFlowResult:
    """`integrate_sgd_flow_stepped` for ONE instance (not vmappable, not jittable as a whole): the
    same `num_steps` classical RK4 steps of θ̇ = −2c P_∥(m⊙u, m⊙v) and the same two Gauss–Newton
    retractions and status, at a fraction of the cost when d ≫ n:

    * the all-zero rows of X (a sweep's padding) are dropped (m is taken over all rows, so the
      sweep's padded, √(n_max/n)-scaled rows give the flow of the true data);
    * the n×n systems (JJᵀ)λ = Jg by Cholesky while JJᵀ has full rank (finite factor, smallest
      pivot² ≥ pivot_rtol·largest), else the eigh pseudo-inverse with relative cutoff `rtol` (what
      the vmapped route always does; linalg="eigh": always that);
    * every `chunk_steps` RK4 steps a Python driver gathers the columns of Gram weight
      u_i² + v_i² > negligible·max into a block of `column_bucket`'s ladder and forms JJᵀ from that
      block only (n²·block instead of n²·d per evaluation); Jg, Jᵀλ and so every coordinate's
      velocity still use all columns. Off the limit's support u_i, v_i decay like e^{−2c m_i t} (at
      rates spread by the projection), so late in the 4× e-fold budget most columns drop out (at
      d = 10⁴, n = 500 from about 60 % of the steps on, to 3072 columns at the end:
      benchmarks/README.md). The default 1e-16 drops columns below the rounding of the full
      Gram's entries;
    * factor (`STEP_FACTORS`): "step" forms and factors JJᵀ once per RK4 step at its start (stage 1
      solved exactly by that factor) and solves stages 2–4 by conjugate gradients preconditioned
      with it, to a relative residual of 1e-13 (a stage that needs more than 32 iterations forms
      its own Gram); "auto" does so from STEP_FACTOR_MIN_ROWS rows on, where it pays.

    negligible=0, linalg="eigh" is the vmapped route up to rounding (tests/test_slow_diagonal_fast.py,
    which also bounds the defaults' difference). The sparse-recovery sweep's route at d ≥ 2000
    (experiments/sparse_recovery.py, `slow_flow_final`). LAPACK runs on one thread (`one_blas_thread`);
    compiled shapes (one per block size) are cached across instances of the same (n, d). Status
    FAILED on a non-finite state or a failed solve, else CONVERGED when the final velocity is below
    1e-8·c, else MAX_TIME (as the vmapped route)."""
    require_x64("sde.slow_diagonal.integrate_sgd_flow_compact")
    if factor not in STEP_FACTORS:
        raise ValueError(f"factor must be one of {STEP_FACTORS}, got {factor!r}")
    opts = _stepped_options(False, linalg, False, None, 0, pivot_rtol, rtol)
    with one_blas_thread():
        return _sgd_flow_compact(X, y, theta0, t1, noise_scale, int(num_steps), opts, float(negligible), int(min_columns), int(chunk_steps),
                                 factor)


def _sgd_flow_compact(X, y, theta0, t1, noise_scale, num_steps, opts, negligible, min_columns, chunk_steps, factor):
    X = jnp.asarray(X)
    y = jnp.asarray(y)
    theta = jnp.asarray(theta0)
    dtype = theta.dtype
    d = X.shape[1]
    m = second_moments(X)  # over all rows: the sweep's zero rows count
    mm = jnp.concatenate([m, m])
    rows = np.flatnonzero(np.any(np.asarray(X) != 0, axis=1))
    Xr, yr = X[rows], y[rows]
    dt = jnp.asarray(t1, dtype) / num_steps
    c = jnp.asarray(noise_scale, dtype)
    ok = bool(jnp.all(jnp.isfinite(theta)))
    C, keep, Xc = d, np.arange(d), Xr
    done = 0
    while ok and done < num_steps:
        th = np.asarray(theta)
        k = th[:d] ** 2 + th[d:] ** 2
        cols = k > negligible * np.max(k)
        need = column_bucket(int(cols.sum()), d, min_columns)
        if need < C or int(cols[keep].sum()) < int(cols.sum()):  # a smaller block fits, or a column came back
            C = need
            keep = np.arange(d) if C == d else np.sort(np.argsort(~cols, kind="stable")[:C])
            Xc = Xr[:, keep]
        count = min(chunk_steps, num_steps - done)
        step_factor = factor == "step" or (factor == "auto" and len(rows) >= STEP_FACTOR_MIN_ROWS and C >= 2 * len(rows))
        theta, ok_c = _sgd_chunk(Xr, Xc, jnp.asarray(keep), mm, theta, dt, jnp.asarray(count), c,
                                 opts._replace(factor="step" if step_factor else "stage"))
        done += count
        ok = bool(ok_c) and bool(jnp.all(jnp.isfinite(theta)))
    status = FAILED
    if ok:
        theta, speed = _sgd_finish(Xr, yr, Xc, jnp.asarray(keep), mm, theta, c, opts)
        if bool(jnp.all(jnp.isfinite(theta))):
            status = CONVERGED if float(speed) <= 1e-8 * float(noise_scale) else MAX_TIME
    w = effective_weights(theta)
    return DiagonalFlowResult(theta, w, jnp.asarray(t1, dtype), jnp.asarray(status), jnp.asarray(1), _max_residual(X, y, w))


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
    require_x64("sde.slow_diagonal.integrate_sgd_flow")
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
    "integrate_adam_flow_compact",
    "integrate_adam_flow_stepped",
    "integrate_sgd_flow",
    "integrate_sgd_flow_compact",
    "integrate_sgd_flow_stepped",
    "jacobian",
    "project_oblique",
    "project_tangent",
    "second_moments",
    "sgd_flow_velocity",
    "split",
]
