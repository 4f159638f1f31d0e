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

from typing import NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from implicit_bias_lab.sde.manifold import gram_pinv_solve
from implicit_bias_lab.sde.slow_diagonal import FAILED, MAX_TIME, _gram, _J_apply, effective_weights, second_moments
from implicit_bias_lab.precision import require_x64

#: status of a flow stopped because a segment needed more than `max_steps_per_segment` steps
STIFF = 5


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


def _retract_log(X: Array, y: Array, ell: Array, sign: Array, ell_dead) -> Array:
    """One Gauss–Newton step onto Γ = {Xw = y} moving the alive coordinates, θ ← θ − Jᵀ(JJᵀ)⁺r,
    written multiplicatively in ℓ."""
    d = X.shape[1]
    alive = ell > ell_dead
    theta = jnp.where(alive, sign * jnp.exp(ell), 0.0)
    mu = gram_pinv_solve(_gram(X, theta), X @ effective_weights(theta) - y)
    z = X.T @ mu
    factor = 1.0 - 2 * _signs(d, X.dtype) * jnp.concatenate([z, z])
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
    m = second_moments(X)
    if v0 is None:
        v0 = 4 * noise_scale * jnp.concatenate([m, m]) * theta0 * theta0
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


__all__ = ["AdamStateFlowResult", "adam_state_log_velocity", "integrate_adam_state_flow", "SOLVERS", "STIFF"]
