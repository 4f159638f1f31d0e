"""Adam's label-noise slow flow on the diagonal net with the second moment v kept as a state.

The Slow SDE of Li, Wen & Lyu (NeurIPS 2025, Thm 5.1, in the corrected form: −(c/4)∂Φ_S S∇³L[S],
not the printed −(c/2)S∂Φ_S S∇³L[S]) couples ζ ∈ Γ to v, which relaxes on the slow time scale
t = η²k at rate c₂ = (1 − β₂)/η²:

    θ̇ = −2c ∂Φ_S(m⊙S²⊙θ),   v̇ = c₂(4c m⊙θ² − v),   S = 1/(v^λ + ε)   (λ = ½ Adam/RMSprop,
                                                                          other λ AdamE-λ)

on w = u⊙u − v⊙v with ∂Φ_S g = g − SJᵀ(JSJᵀ)⁺Jg and m_i = mean_k X_ki². Because
(Jᵀμ)_j = 2ς_jθ_j(Xᵀμ)_i (ς = +1 for u_i, −1 for v_i), the velocity is multiplicative, and in
the log variables ℓ = ln|θ|, p = ln v it reads

    ℓ̇_j = −2c S_j (m_i S_j − 2ς_j (Xᵀμ)_i),   [X Diag(S_u u² + S_v v²) Xᵀ] μ = ½X(m⊙(S_u²u² − S_v²v²)),
    ṗ_j = c₂(4c m_i e^{2ℓ_j − p_j} − 1).

Signs of θ never change, and the log form handles *extinction* and *revival* without events:
a collapsing coordinate has S_j bounded by 1/√v_j with v_j decaying like e^{−c₂t}, so ℓ_j falls
doubly exponentially but stays finite, and it revives (ℓ̇_j > 0) exactly when
2ς_j(Xᵀμ)_i > m_i S_j — about 1/c₂ after a collapse at ε = 0, whenever 2|Xᵀμ|_i > m_i/ε at
ε > 0. The quasi-static closure v = 4c m⊙θ² (c₂ → ∞; `sde.slow_diagonal.integrate_adam_flow*`)
has finite-time extinction and never revives at ε = 0: it is a limit of this flow, not the
limit of a finite-c₂ discrete Adam (docs/theory.md#adams-slow-flow-with-v-as-a-state).

Integrator: Diffrax Tsit5 with a PID controller on (ℓ, p), in segments, each ending with one
Gauss–Newton retraction onto Γ, θ_j ← θ_j(1 − 2ς_j(Xᵀμ)_i) with (JJᵀ)μ = Xw − y (multiplicative,
so it is exact in ℓ). The v-relaxation is linear in v with rate c₂, so Tsit5's stability bound
costs ≈ c₂T/3 steps over a slow time T; `solver="kvaerno5"` (implicit, dense 4d × 4d Newton
systems) is there for c₂ ≫ 100 on small d.

Dead coordinates: at ε = 0 a collapsed coordinate keeps moving among the other dead ones at rates
∝ S² ∝ e^{c₂t}, which no solver follows cheaply and which cannot matter for w. So a coordinate with
θ_j² ≤ `dead_floor`·max θ₀² at the start of a segment is dead for good (θ_j = 0, out of the Gram,
frozen); the alive set is fixed within a segment, because a kill inside one is a discontinuity of the
field that an adaptive controller meets with a cascade of rejected steps. A segment that still
needs more than `max_steps_per_segment` steps stops the flow with status STIFF where it was last
good; a non-finite state stops it with FAILED. p is clamped at −600 (v ≥ e^{−600}) so S² cannot
overflow.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax import Array

from implicit_bias_lab.sde.manifold import gram_pinv_solve
from implicit_bias_lab.sde.status import RunStatus
from implicit_bias_lab.sde.slow_diagonal import (
    FAILED,
    MAX_TIME,
    _cholesky_full,
    _full_column_rank,
    _gram,
    _J_apply,
    adam_fixed_point_v,
    column_bucket,
    effective_weights,
    one_blas_thread,
    second_moments,
)
from implicit_bias_lab.precision import require_x64

#: status of a flow stopped because a segment needed more than `max_steps_per_segment` steps
STIFF = int(RunStatus.STIFF)

LOG_V_FLOOR = -600.0
SOLVERS = ("tsit5", "kvaerno5")


class AdamStateFlowResult(NamedTuple):
    """End of a v-state Adam flow (batched under vmap): theta (2d,), v (2d,), w (d,), t, status
    (MAX_TIME = reached t1, STIFF = stopped at t < t1 where a segment needed more than its step
    budget, FAILED = non-finite or solver failure), num_steps (accepted solver steps), max_residual
    max_k |⟨x_k, w⟩ − y_k|."""

    theta: Array
    v: Array
    w: Array
    t: Array
    status: Array
    num_steps: Array
    max_residual: Array


def _signs(d: int, dtype) -> Array:
    """ς = (+1 for u, −1 for v)."""
    return jnp.concatenate([jnp.ones(d, dtype), -jnp.ones(d, dtype)])


def adam_state_log_velocity(
    X: Array, ell: Array, p: Array, noise_scale, c2, eps=0.0, power=0.5, alive: Array | None = None, rtol: float = 1e-12
) -> tuple[Array, Array]:
    """(ℓ̇, ṗ) of the v-state flow in log variables (module docstring); coordinates outside the
    boolean mask `alive` (default: all) are dead: θ_j = 0, out of the Gram, and frozen."""
    d = X.shape[1]
    m = second_moments(X)
    mm = jnp.concatenate([m, m])
    alive = jnp.ones(ell.shape, bool) if alive is None else alive
    p = jnp.maximum(p, LOG_V_FLOOR)
    S = 1.0 / (jnp.exp(power * p) + eps)
    # |θ| stands for θ: (JSJᵀ) and J(m⊙S²⊙θ) depend on θ only through θ², so μ is sign-free
    theta = jnp.where(alive, jnp.exp(ell), 0.0)
    mu = gram_pinv_solve(_gram(X, theta, S), _J_apply(X, theta, mm * S * S * theta), rtol)
    z = X.T @ mu
    dell = -2 * noise_scale * S * (mm * S - 2 * _signs(d, X.dtype) * jnp.concatenate([z, z]))
    dp = c2 * (4 * noise_scale * mm * jnp.exp(2 * ell - p) - 1.0)
    return jnp.where(alive, dell, 0.0), jnp.where(alive, dp, 0.0)


def _retract_log(X: Array, y: Array, ell: Array, sign: Array, ell_dead, form: str = "primal", linalg: str = "eigh",
                 pivot_rtol: float = 1e-10) -> Array:
    """One Gauss–Newton step onto Γ = {Xw = y} moving the alive coordinates (ℓ > ell_dead),
    θ ← θ − Jᵀ(JJᵀ)⁺r, written multiplicatively in ℓ: θ_j ← θ_j(1 − 2ς_j(Xᵀμ)_i), 4X Diag(u² + v²)Xᵀμ = r.

    X may be a block of columns (the compact route). The n×n system by `_spd_solve` (linalg "eigh":
    the pseudo-inverse); form "dual" (the columns A with an alive member linearly independent):
    (Xᵀμ)_A = D⁻¹(X_AᵀX_A)⁻¹X_Aᵀr with D = 4(u² + v²), the least-squares coefficients of r on X_A."""
    C = X.shape[1]
    alive = ell > ell_dead
    theta = jnp.where(alive, sign * jnp.exp(ell), 0.0)
    r = X @ effective_weights(theta) - y
    t2 = theta * theta
    k = t2[:C] + t2[C:]
    if form == "dual":
        a = (alive[:C] | alive[C:]).astype(X.dtype)
        M = (X.T @ X) * a[:, None] * a[None, :] + jnp.diag(1.0 - a)
        coef = jax.scipy.linalg.cho_solve((jnp.linalg.cholesky(M), True), a * (X.T @ r))
        z = jnp.where(k > 0, coef / (4 * jnp.where(k > 0, k, 1.0)), 0.0)
    else:
        z = X.T @ _spd_solve(4 * (X * k) @ X.T, r, linalg, pivot_rtol)
    factor = 1.0 - 2 * _signs(C, X.dtype) * jnp.concatenate([z, z])
    return jnp.where(alive, ell + jnp.log(jnp.clip(factor, 0.5, 2.0)), ell)


@eqx.filter_jit
def integrate_adam_state_flow(
    X: Array,
    y: Array,
    theta0: Array,
    t1: float,
    *,
    noise_scale: float,
    c2: float,
    v0: Array | None = None,
    eps: float = 0.0,
    power: float = 0.5,
    dead_floor: float = 1e-3,
    num_segments: int = 20,
    solver: str = "tsit5",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps_per_segment: int = 1024,
) -> AdamStateFlowResult:
    """The v-state Adam flow from θ0 ∈ Γ (nonzero coordinates; zeros stay zero) and v0 (default
    its fixed point 4c m⊙θ0², as a discrete Adam started there) to slow time t1, in
    `num_segments` Diffrax solves each followed by a retraction onto Γ. jit-compiled; vmap over
    (X, y, θ0[, noise_scale]) for sweeps (X, y may be row-padded with zeros and the true rows
    scaled by √(n_max/n): Γ, m and Xᵀμ are unchanged)."""
    require_x64("sde.slow_diagonal_state.integrate_adam_state_flow")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    theta0 = jnp.asarray(theta0)
    dtype = theta0.dtype
    sign = jnp.where(theta0 >= 0, 1.0, -1.0).astype(dtype)
    tiny = jnp.finfo(dtype).tiny
    ell0 = jnp.log(jnp.maximum(jnp.abs(theta0), tiny))
    # θ_j² ≤ dead_floor·max θ0² at a segment's start is dead for good (module docstring, "Dead coordinates")
    ell_dead = 0.5 * jnp.log(dead_floor * jnp.max(theta0 * theta0)) if dead_floor > 0 else -jnp.inf
    if v0 is None:
        v0 = adam_fixed_point_v(X, theta0, noise_scale)
    p0 = jnp.maximum(jnp.log(jnp.maximum(jnp.asarray(v0, dtype), tiny)), LOG_V_FLOOR)

    def field(t, state, alive):
        ell, p = state
        return adam_state_log_velocity(X, ell, p, noise_scale, c2, eps, power, alive)

    term = diffrax.ODETerm(field)
    ode_solver = diffrax.Tsit5() if solver == "tsit5" else diffrax.Kvaerno5()
    controller = diffrax.PIDController(rtol=rtol, atol=atol)
    edges = jnp.linspace(0.0, jnp.asarray(t1, dtype), num_segments + 1)

    def segment(carry, t_pair):
        (ell, p), steps, t_end, status = carry
        ok = status == MAX_TIME
        # the alive set is fixed within a segment (a kill inside one would be a discontinuity of the
        # field, which an adaptive solver meets with a cascade of rejected steps); a stopped flow
        # integrates over an empty interval (no steps, so it costs nothing under vmap)
        alive = ell > ell_dead
        sol = diffrax.diffeqsolve(
            term, ode_solver, t_pair[0], jnp.where(ok, t_pair[1], t_pair[0]), None, (ell, p), args=alive, stepsize_controller=controller,
            max_steps=max_steps_per_segment, throw=False,
        )
        ell_end, p_end = (a[-1] for a in sol.ys)
        ell_end = _retract_log(X, y, ell_end, sign, ell_dead)
        p_end = jnp.maximum(p_end, LOG_V_FLOOR)
        finite = jnp.all(jnp.isfinite(ell_end)) & jnp.all(jnp.isfinite(p_end))
        good = (sol.result == diffrax.RESULTS.successful) & finite
        stiff = sol.result == diffrax.RESULTS.max_steps_reached
        # a segment that fails or runs out of steps stops the flow where it was last good
        ell_new = jnp.where(good & ok, ell_end, ell)
        p_new = jnp.where(good & ok, p_end, p)
        status = jnp.where(~ok, status, jnp.where(good, MAX_TIME, jnp.where(stiff & jnp.all(jnp.isfinite(ell)), STIFF, FAILED)))
        return ((ell_new, p_new), steps + sol.stats["num_accepted_steps"], jnp.where(good & ok, t_pair[1], t_end), status), None

    init = ((ell0, p0), jnp.asarray(0), edges[0], jnp.where(jnp.all(jnp.isfinite(ell0)) & jnp.all(jnp.isfinite(p0)), MAX_TIME, FAILED))
    ((ell, p), steps, t_end, status), _ = jax.lax.scan(segment, init, jnp.stack([edges[:-1], edges[1:]], axis=1))
    theta = jnp.where((theta0 == 0) | (ell <= ell_dead), 0.0, sign * jnp.exp(ell))
    w = effective_weights(theta)
    return AdamStateFlowResult(theta, jnp.exp(p), w, t_end, status, steps, jnp.max(jnp.abs(X @ w - y)))


# ----------------------------------------------------------------------------- per-instance route
class _SegmentOptions(NamedTuple):
    """Static options of a chunk of a segment of `integrate_adam_state_flow_compact`."""

    solver: str
    rtol: float
    atol: float
    max_steps: int  # steps (accepted or rejected) per chunk
    form: str  # "primal": n×n Gram over the block's columns; "dual": the block's live columns are independent
    linalg: str  # "cholesky" (eigh pseudo-inverse fallback) or "eigh"
    pivot_rtol: float
    n_full: int  # entries of the whole state (ℓ, p): the error norm is the RMS over those


def _spd_solve(K: Array, b: Array, linalg: str, pivot_rtol: float, rtol: float = 1e-12) -> Array:
    """K⁺b for a symmetric PSD K: Cholesky while K has full rank (finite factor, smallest pivot² ≥
    pivot_rtol·largest), else `gram_pinv_solve`'s eigh pseudo-inverse (a real branch: this route is
    not vmapped)."""
    if linalg == "eigh":
        return gram_pinv_solve(K, b, rtol)
    Ls, full = _cholesky_full(K, pivot_rtol)
    return jax.lax.cond(full, lambda: jax.scipy.linalg.cho_solve((Ls, True), b), lambda: gram_pinv_solve(K, b, rtol))


def _block_log_velocity(Xc, mm, ell, p, alive, noise_scale, c2, eps, power, opts: _SegmentOptions):
    """`adam_state_log_velocity` on a block of columns (Xc, n×C; mm, ell, p, alive of length 2C), m
    given; the n×n system by `_spd_solve`. form "dual" (the columns A with an alive member
    linearly independent): X_Aᵀ(X_A D X_Aᵀ)⁺X_A = D⁻¹, so (Xᵀμ)_i = m_i(S_u²u² − S_v²v²)_i/(2(S_u u² +
    S_v v²)_i), no solve (a column with one alive member is then stationary in ℓ)."""
    C = Xc.shape[1]
    p = jnp.maximum(p, LOG_V_FLOOR)
    S = 1.0 / (jnp.exp(power * p) + eps)
    theta = jnp.where(alive, jnp.exp(ell), 0.0)
    St2 = S * theta * theta
    g = mm * S * St2  # m S² θ²: J(m S² θ) = 2X(g_u − g_v) (sign-free, as in the full route)
    if opts.form == "dual":
        D = 4 * (St2[:C] + St2[C:])
        z = jnp.where(D > 0, 2 * (g[:C] - g[C:]) / jnp.where(D > 0, D, 1.0), 0.0)
    else:
        K = 4 * (Xc * (St2[:C] + St2[C:])) @ Xc.T
        z = Xc.T @ _spd_solve(K, 2 * Xc @ (g[:C] - g[C:]), opts.linalg, opts.pivot_rtol)
    dell = -2 * noise_scale * S * (mm * S - 2 * _signs(C, Xc.dtype) * jnp.concatenate([z, z]))
    dp = c2 * (4 * noise_scale * mm * jnp.exp(2 * ell - p) - 1.0)
    return jnp.where(alive, dell, 0.0), jnp.where(alive, dp, 0.0)


class _ResumablePID(diffrax.PIDController):
    """Diffrax's PID controller whose state also carries the step it proposes next, so that a solve
    cut into chunks (max_steps) and resumed with that step, the solver's FSAL state and the
    controller's state takes the steps of one uncut solve; and the latest end time it has proposed
    (accepted or not, before Diffrax clips it to the end of the solve): up to a chunk whose
    proposals all stayed before some t < t1, a solve to t takes the same steps."""

    def init(self, terms, t0, t1, y0, dt0, args, func, error_order):
        t_next, state = super().init(terms, t0, t1, y0, dt0, args, func, error_order)
        return t_next, (tuple(jnp.asarray(s) for s in state), t_next - t0, t_next)

    def adapt_step_size(self, t0, t1, y0, y1_candidate, args, y_error, error_order, controller_state):
        keep, t0n, t1n, jump, state, result = super().adapt_step_size(
            t0, t1, y0, y1_candidate, args, y_error, error_order, controller_state[0])
        return keep, t0n, t1n, jump, (tuple(jnp.asarray(s) for s in state), t1n - t0n, jnp.maximum(controller_state[2], t1n)), result


class _Mark(NamedTuple):
    """The driver's state at a chunk boundary of a segment attempt (`_state_flow_compact`), from
    which a split segment's first half can go on: ctrl[2] is the latest end time proposed so far."""

    t: Array
    ell: Array
    p: Array
    live: np.ndarray
    frozen_at: np.ndarray
    f0: tuple[Array, Array]
    ctrl: tuple
    made_jump: Array
    steps: int
    used: int


@partial(jax.jit, static_argnames="opts")
def _block_chunk(Xc, y, mm, sign, ell, p, live, t, t_b, resume, ctrl, f0, made_jump, ell_dead, noise_scale, c2, eps, power,
                 opts: _SegmentOptions):
    """At most opts.max_steps Diffrax steps of a segment on a block of columns, from t towards t_b,
    the coordinates outside `live` frozen; a fresh start of the step control (as one solve per
    segment) unless `resume` (then `ctrl`, `f0`, `made_jump` continue the previous chunk). Reaching
    t_b, the state is retracted onto Γ. Returns the state, the time reached, accepted and all steps,
    the result (0 reached t_b, 1 out of steps, 2 failed), and the resume data."""

    def field(t, state, args):
        return _block_log_velocity(Xc, mm, state[0], state[1], live, noise_scale, c2, eps, power, opts)

    term = diffrax.ODETerm(field)
    ode_solver = diffrax.Tsit5() if opts.solver == "tsit5" else diffrax.Kvaerno5()
    controller = _ResumablePID(rtol=opts.rtol, atol=opts.atol, norm=lambda e: optx.two_norm(e) / math.sqrt(opts.n_full))

    # a fresh start as diffeqsolve's own: its first step is 0.01 (it wraps an ODETerm, so its initial-step
    # heuristic does not apply) and the PID state (1, 1, False); the chunk's first proposal is t + ctrl[1]
    one = jnp.ones((), ell.dtype)
    ctrl = jax.tree_util.tree_map(lambda a, b: jnp.where(resume, a, b), ctrl, ((one, one, jnp.asarray(False)), 0.01 * one, t))
    ctrl = (ctrl[0], ctrl[1], jnp.maximum(ctrl[2], t + ctrl[1]))
    sol = diffrax.diffeqsolve(
        term, ode_solver, t, t_b, ctrl[1], (ell, p), stepsize_controller=controller, max_steps=opts.max_steps, throw=False,
        solver_state=(~resume, f0), controller_state=ctrl, made_jump=made_jump,
        saveat=diffrax.SaveAt(t1=True, solver_state=True, controller_state=True, made_jump=True),
    )
    ell_end, p_end = (a[-1] for a in sol.ys)
    done = sol.result == diffrax.RESULTS.successful
    ell_end = jax.lax.cond(done, lambda: _retract_log(Xc, y, ell_end, sign, ell_dead, opts.form, opts.linalg, opts.pivot_rtol), lambda: ell_end)
    p_end = jnp.where(done, jnp.maximum(p_end, LOG_V_FLOOR), p_end)
    result = jnp.where(done, 0, jnp.where(sol.result == diffrax.RESULTS.max_steps_reached, 1, 2))
    return (ell_end, p_end, sol.ts[-1], sol.stats["num_accepted_steps"], sol.stats["num_steps"], result,
            sol.controller_state, sol.solver_state[1], sol.made_jump)


@jax.jit
def _negligible_columns(ell, p, live, dell, ell_dead, eps, power, rel):
    """The columns of a block whose live members are all negligible for the rest of a segment: below
    the dead floor, not reviving (ℓ̇ ≤ 0), and weights S_jθ_j² (the Gram's) and S_j²θ_j² (the
    right-hand side's) below `rel` times the block's largest."""
    C = ell.shape[0] // 2
    S = 1.0 / (jnp.exp(power * jnp.maximum(p, LOG_V_FLOOR)) + eps)
    St2 = jnp.where(live, S * jnp.exp(2 * ell), 0.0)
    k, g = St2[:C] + St2[C:], (S * St2)[:C] + (S * St2)[C:]
    quiet = ~live | ((ell <= ell_dead) & (dell <= 0))
    return (live[:C] | live[C:]) & quiet[:C] & quiet[C:] & (k <= rel * jnp.max(k)) & (g <= rel * jnp.max(g))


def integrate_adam_state_flow_compact(
    X: Array,
    y: Array,
    theta0: Array,
    t1: float,
    *,
    noise_scale: float,
    c2: float,
    v0: Array | None = None,
    eps: float = 0.0,
    power: float = 0.5,
    dead_floor: float = 1e-3,
    num_segments: int = 20,
    solver: str = "tsit5",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    max_steps_per_segment: int = 1024,
    linalg: str = "cholesky",
    dual: bool = True,
    pivot_rtol: float = 1e-10,
    min_columns: int = 256,
    chunk_steps: int = 16,
    negligible: float = 1e-12,
    max_splits: int = 4,
    reuse: bool = True,
) -> AdamStateFlowResult:
    """`integrate_adam_state_flow` for ONE instance (not vmappable or jittable as a whole): the same
    segments, alive sets, retractions and statuses, computed on gathered blocks of columns. A Python
    driver cuts each segment's Diffrax solve into chunks of `chunk_steps` steps that resume exactly
    (`_ResumablePID`: the proposed step, the FSAL derivative and the PID state carry over), and
    before each chunk gathers the columns with a live member into a block of `column_bucket`'s
    ladder (the padding columns are dead, so inert); the all-zero rows of X (a sweep's padding) are
    dropped, m is taken over all rows. Per right-hand side the Gram costs n²·(block) instead of n²·d:
    * negligible: between chunks, a column whose live members are below the dead floor, not
      reviving (ℓ̇ ≤ 0) and of Gram weight S_jθ_j² and right-hand-side weight S_j²θ_j² ≤ `negligible`
      times the block's largest is frozen for the rest of the segment (at its end it is dead
      anyway; its v decays at rate c₂ meanwhile). It changes the n×n Gram by less than the
      integrator's tolerance, and it is what keeps the solve going where the full route spends its
      steps on collapsing coordinates (at d = 10⁴, n = 200 the full route stops STIFF in its second
      segment; negligible=0 reproduces the full route's steps);
    * linalg "cholesky": the n×n systems by Cholesky while they have full rank, else the eigh
      pseudo-inverse (`gram_pinv_solve`, what the vmapped route always does); "eigh": always that;
    * dual: once at most n columns are live and they are linearly independent (checked per chunk by
      a Cholesky of X_AᵀX_A), X_Aᵀ(X_A D X_Aᵀ)⁺X_A = D⁻¹ and the velocity needs no solve
      (`_block_log_velocity`); the retraction solves with X_AᵀX_A.
    * max_splits: a segment that needs more than `max_steps_per_segment` steps is redone from its
      start as two halves, down to 2^max_splits times the segment length, before the flow stops as
      STIFF: the alive set is fixed within a segment, so at d = 10⁴ the coordinates that collapse
      together (at ε = 0, ℓ̇ ∝ S² grows like e^{c₂t} until the dead floor removes them) made a whole
      1.5-long segment too stiff, while its halves pass (measured, n = 350: STIFF at t = 1.5 with
      4096 steps; 200 equal segments reach t1). A flow that never runs out of steps is unchanged.
      reuse: the first half starts from the whole's last chunk boundary before which every step
      the controller proposed ended before the midpoint, so it takes the same steps bitwise
      (`_ResumablePID`; tests/test_slow_diagonal_state.py); False redoes those chunks.
    LAPACK runs on one thread (`one_blas_thread`). Equal to the vmapped route up to rounding with
    negligible=0 and to integrator tolerance otherwise (tests/test_slow_diagonal_state.py); compiled
    shapes are cached across instances of the same (n, d). A segment that needs more than
    `max_steps_per_segment` steps (counted by chunks) at the shortest length stops the flow with STIFF
    where it was last good."""
    require_x64("sde.slow_diagonal_state.integrate_adam_state_flow_compact")
    with one_blas_thread():
        return _state_flow_compact(X, y, theta0, t1, noise_scale, c2, v0, eps, power, dead_floor, num_segments, solver, rtol, atol,
                                   max_steps_per_segment, linalg, dual, pivot_rtol, min_columns, chunk_steps, negligible, max_splits, reuse)


def _state_flow_compact(X, y, theta0, t1, noise_scale, c2, v0, eps, power, dead_floor, num_segments, solver, rtol, atol,
                        max_steps_per_segment, linalg, dual, pivot_rtol, min_columns, chunk_steps, negligible, max_splits, reuse):
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    if linalg not in ("cholesky", "eigh"):
        raise ValueError(f"linalg must be 'cholesky' or 'eigh', got {linalg!r}")
    if isinstance(max_splits, bool) or not isinstance(max_splits, (int, np.integer)) or max_splits < 0:
        raise ValueError(f"max_splits must be an integer >= 0, got {max_splits!r}")
    X = jnp.asarray(X)
    theta0 = jnp.asarray(theta0)
    dtype = theta0.dtype
    d = X.shape[1]
    m = second_moments(X)  # over all rows: the sweep's zero rows count (module docstring)
    rows = np.flatnonzero(np.any(np.asarray(X) != 0, axis=1))
    Xr, yr = X[rows], jnp.asarray(y)[rows]
    n_rows = len(rows)
    mm = jnp.concatenate([m, m])
    sign = jnp.where(theta0 >= 0, 1.0, -1.0).astype(dtype)
    tiny = jnp.finfo(dtype).tiny
    ell = jnp.log(jnp.maximum(jnp.abs(theta0), tiny))
    ell_dead = 0.5 * jnp.log(dead_floor * jnp.max(theta0 * theta0)) if dead_floor > 0 else jnp.asarray(-jnp.inf, dtype)
    if v0 is None:
        v0 = adam_fixed_point_v(X, theta0, noise_scale)
    p = jnp.maximum(jnp.log(jnp.maximum(jnp.asarray(v0, dtype), tiny)), LOG_V_FLOOR)
    edges = jnp.linspace(0.0, jnp.asarray(t1, dtype), num_segments + 1)
    scalars = [jnp.asarray(a, dtype) for a in (noise_scale, c2, eps, power)]
    status = MAX_TIME if bool(jnp.all(jnp.isfinite(ell)) & jnp.all(jnp.isfinite(p))) else FAILED
    steps, t_end = 0, edges[0]
    one = jnp.asarray(1.0, dtype)
    ctrl0 = ((one, one, jnp.asarray(False)), jnp.asarray(0.0, dtype), jnp.asarray(0.0, dtype))
    # the segments to do, first first; a segment that runs out of steps is redone as two halves
    # (from its start state) until it is 2^max_splits times shorter than the others
    todo = [(edges[k], edges[k + 1], None) for k in range(num_segments)]
    shortest = (float(t1) / num_segments) / 2 ** int(max_splits)
    while todo:
        if status != MAX_TIME:
            break
        t_a, t_b, resumed = todo.pop(0)
        if resumed is None:  # a fresh start at t_a
            ell_start, p_start, steps_start, marks = ell, p, steps, []
            live = np.array(ell > ell_dead)  # the segment's alive set, less what is frozen as negligible
            frozen_at = np.full(2 * d, np.nan)
            f0 = jnp.zeros(2 * d, dtype), jnp.zeros(2 * d, dtype)
            t, resume, ctrl, made_jump, used = t_a, False, ctrl0, jnp.asarray(False), 0
        else:  # the first half of a split segment, from the last chunk boundary its steps share with the whole's
            ell_start, p_start, steps_start, marks = resumed
            t, ell, p, live, frozen_at, f0, ctrl, made_jump, steps, used = marks[-1]
            live, frozen_at, resume = live.copy(), frozen_at.copy(), True
        split = False
        while True:
            cols = live[:d] | live[d:]
            count = int(cols.sum())
            C = column_bucket(count, d, min_columns)
            keep = np.argsort(~cols, kind="stable")[:C]
            both = np.concatenate([keep, d + keep])
            Xc = Xr[:, keep]
            form = "primal"
            if dual and count <= n_rows and bool(_full_column_rank(Xc, jnp.asarray(cols[keep]), pivot_rtol)):
                form = "dual"
            opts = _SegmentOptions(solver, float(rtol), float(atol), int(chunk_steps), form, linalg, float(pivot_rtol), 4 * d)
            out = _block_chunk(Xc, yr, mm[both], sign[both], ell[both], p[both], jnp.asarray(live[both]), t, t_b,
                               jnp.asarray(resume), ctrl, (f0[0][both], f0[1][both]), made_jump, ell_dead, *scalars, opts=opts)
            ell_c, p_c, t, n_acc, n_all, result, ctrl, f0_c, made_jump = out
            steps += int(n_acc)
            used += int(n_all)
            result = int(result)
            finite = bool(jnp.all(jnp.isfinite(ell_c)) & jnp.all(jnp.isfinite(p_c)))
            if result == 2 or not finite or (result == 1 and used >= max_steps_per_segment):
                ell, p, steps = ell_start, p_start, steps_start
                if result == 1 and finite and float(t_b - t_a) > 1.5 * shortest:
                    split = True  # out of steps: redo it as two halves (the dead floor then acts between them)
                    break
                # a segment that fails, or runs out of steps at the shortest length, stops the flow where it was last good
                status = STIFF if result == 1 and finite and bool(jnp.all(jnp.isfinite(ell_start))) else FAILED
                break
            ell, p = ell.at[both].set(ell_c), p.at[both].set(p_c)
            if result == 0:
                break
            f0 = (jnp.zeros(2 * d, dtype).at[both].set(f0_c[0]), jnp.zeros(2 * d, dtype).at[both].set(f0_c[1]))
            resume = True
            drop = np.asarray(_negligible_columns(ell_c, p_c, jnp.asarray(live[both]), f0_c[0], ell_dead, scalars[2], scalars[3], negligible))
            if drop.any():
                gone = np.concatenate([keep[drop], d + keep[drop]])
                gone = gone[live[gone]]
                live[gone] = False
                frozen_at[gone] = float(t)
                f0 = (f0[0].at[gone].set(0.0), f0[1].at[gone].set(0.0))
            marks.append(_Mark(t, ell, p, live.copy(), frozen_at.copy(), f0, ctrl, made_jump, steps, used))
        if status != MAX_TIME:
            break
        if split:
            t_mid = 0.5 * (t_a + t_b)
            # up to a chunk boundary before which every step proposed (accepted or not) ended before
            # t_mid, less Diffrax's clipping margin of 100 ulp, a solve to t_mid takes the same steps
            # (`_ResumablePID`): the first half starts there, with bitwise the same result
            shared = [mk for mk in marks if float(mk.ctrl[2]) < t_mid - 1e-12 * max(1.0, abs(float(t_mid)))] if reuse else []
            todo[:0] = [(t_a, t_mid, (ell_start, p_start, steps_start, shared) if shared else None), (t_mid, t_b, None)]
            continue
        # the frozen coordinates' v relaxes on as in the full route (v̇ = −c₂v up to c₂·4c m θ², negligible)
        fz = np.flatnonzero(~np.isnan(frozen_at))
        if fz.size:
            p = p.at[fz].set(jnp.maximum(p[fz] - scalars[1] * (t_b - jnp.asarray(frozen_at[fz])), LOG_V_FLOOR))
        t_end = t_b
    theta = jnp.where((theta0 == 0) | (ell <= ell_dead), 0.0, sign * jnp.exp(ell))
    w = effective_weights(theta)
    return AdamStateFlowResult(theta, jnp.exp(p), w, t_end, jnp.asarray(status), jnp.asarray(steps), jnp.max(jnp.abs(X @ w - jnp.asarray(y))))


__all__ = ["AdamStateFlowResult", "adam_state_log_velocity", "integrate_adam_state_flow", "integrate_adam_state_flow_compact", "SOLVERS", "STIFF"]
