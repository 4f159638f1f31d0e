"""Slow SDEs and slow flows on the minimizer manifold Γ (slow time t = η²k).

* General Slow SDE (Li, Wang, Arora, ICLR 2022; docs/theory.md#2-slow-sde):
  dζ = P_∥Σ^{1/2}dW + ½∂²Φ[Σ]dt.
* Label-noise SGD (Σ = cH; docs/theory.md#3-label-noise): dζ/dt = −(c/4) P_∥ ∇tr H.
* Adaptive methods, corrected form (Li, Wen, Lyu, NeurIPS 2025, re-derived in
  docs/theory.md#43-corrected-adaptive-slow-sde and docs/theory.md#44-adam-under-label-noise):
  dζ/dt = −(c/4) ∂Φ_S S ∇³L[S] (S frozen inside ∇³L), dv/dt = c₂(c·diag H − v),
  S = 1/(√v + ε) (Adam/RMSprop) or 1/(v^λ + ε) (AdamE-λ). The paper's printed Theorem 5.1,
  −(c/2) S ∂Φ_S S ∇³L[S], is kept only as `adam_printed_velocity` so tests can tell them apart.

Public API: `slow_velocity` and `integrate_slow_flow` (stable signatures); the rest are
building blocks in the theory's words. Everything is float64.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from implicit_bias_lab.sde import manifold as mf
from implicit_bias_lab.sde.status import RunStatus
from implicit_bias_lab.precision import require_x64

LossFn = Callable[[Array], Array]

#: A point counts as on Γ when L(ζ) ≤ this (Γ = zero-loss set of a squared loss).
ON_MANIFOLD_LOSS_TOL = 1e-12
#: Eigenvalues of H above RANK_RTOL·λ_max are normal directions.
RANK_RTOL = 1e-6
#: Required separation (ratio) between the smallest normal and the largest tangent eigenvalue.
RANK_GAP = 1e3


# ----------------------------------------------------------------------------- general Slow SDE
@eqx.filter_jit
def symmetric_sqrt(Sigma: Array) -> Array:
    """Σ^{1/2} of a symmetric PSD matrix (eigh; tiny negative eigenvalues clipped)."""
    lam, V = jnp.linalg.eigh(0.5 * (Sigma + Sigma.T))
    return (V * jnp.sqrt(jnp.clip(lam, 0.0))) @ V.T


@eqx.filter_jit
def slow_sde_drift(loss_fn: LossFn, zeta: Array, Sigma: Array, rank: int | None = None) -> Array:
    """½∂²Φ(ζ)[Σ]: drift of the Li–Wang–Arora Slow SDE on Γ (docs/theory.md#2-slow-sde)."""
    return 0.5 * mf.projection_second_derivative(loss_fn, zeta, Sigma, rank=rank)


@eqx.filter_jit
def slow_sde_diffusion(loss_fn: LossFn, zeta: Array, Sigma: Array, rank: int | None = None) -> Array:
    """P_∥Σ^{1/2}: diffusion matrix of the Li–Wang–Arora Slow SDE (∂Φ = P_∥ on Γ)."""
    return mf.tangent_projector(mf.hessian(loss_fn, zeta), rank=rank) @ symmetric_sqrt(Sigma)


@eqx.filter_jit
def adam_slow_sde_drift(loss_fn: LossFn, zeta: Array, Sigma: Array, S: Array, rank: int | None = None) -> Array:
    """½∂²Φ_S(ζ)[SΣS], drift of the corrected adaptive Slow SDE (docs/theory.md#43-corrected-adaptive-slow-sde), S diagonal > 0."""
    S = jnp.asarray(S, zeta.dtype)
    return 0.5 * mf.preconditioned_projection_second_derivative(
        loss_fn, zeta, S[:, None] * Sigma * S[None, :], S, rank=rank
    )


@eqx.filter_jit
def adam_slow_sde_diffusion(loss_fn: LossFn, zeta: Array, Sigma: Array, S: Array, rank: int | None = None) -> Array:
    """∂Φ_S S Σ^{1/2}: diffusion matrix of the corrected adaptive Slow SDE (docs/theory.md#43-corrected-adaptive-slow-sde)."""
    S = jnp.asarray(S, zeta.dtype)
    dPhi_S = mf.preconditioned_projection_jacobian(loss_fn, zeta, S, rank=rank)
    return dPhi_S @ (S[:, None] * symmetric_sqrt(Sigma))


# ----------------------------------------------------------------------------- label noise: SGD
@eqx.filter_jit
def sgd_label_noise_velocity(loss_fn: LossFn, zeta: Array, c: float, rank: int | None = None) -> Array:
    """dζ/dt = −(c/4) P_∥ ∇tr H (label noise Σ = cH; LWA with c/4 derived, docs/theory.md#3-label-noise)."""
    P_par = mf.tangent_projector(mf.hessian(loss_fn, zeta), rank=rank)
    return -0.25 * c * (P_par @ mf.grad_trace_hessian(loss_fn, zeta))


# ----------------------------------------------------------------------------- label noise: Adam
def adam_preconditioner(v: Array, eps: float = 0.0, power: float = 0.5) -> Array:
    """S(v) = 1/(v^λ + ε) elementwise: Adam/RMSprop λ = ½, AdamE-λ otherwise (docs/theory.md#41-agm-class-and-scaling)."""
    return 1.0 / (jnp.clip(v, 0.0) ** power + eps)


@eqx.filter_jit
def adam_fixed_point_v(loss_fn: LossFn, zeta: Array, c: float) -> Array:
    """v* = c·diag H(ζ), the quasi-static second moment under label noise (docs/theory.md#44-adam-under-label-noise)."""
    return c * jnp.clip(jnp.diagonal(mf.hessian(loss_fn, zeta)), 0.0)


@eqx.filter_jit
def adam_v_velocity(loss_fn: LossFn, zeta: Array, v: Array, c: float, c2: float) -> Array:
    """dv/dt = c₂(c·diag H(ζ) − v), c₂ = (1 − β₂)/η² (docs/theory.md#44-adam-under-label-noise)."""
    return c2 * (adam_fixed_point_v(loss_fn, zeta, c) - v)


def _adam_parts(loss_fn, zeta, S, rank, H=None):
    H = mf.hessian(loss_fn, zeta) if H is None else H
    dPhi_S = mf.oblique_projector(mf.normal_basis(H, rank=rank), S)
    g3 = mf.third_derivative_contraction_diag(loss_fn, zeta, S)
    return dPhi_S, g3


@eqx.filter_jit
def adam_label_noise_velocity(loss_fn: LossFn, zeta: Array, c: float, S: Array, rank: int | None = None,
                              H: Array | None = None) -> Array:
    """Corrected form dζ/dt = −(c/4) ∂Φ_S S ∇³L[S], S frozen (docs/theory.md#44-adam-under-label-noise),
    for any diagonal S > 0 (Adam, AdamE, the block methods of `sde.families`); H = ∇²L(ζ) when the
    caller has it already.

    Tangent to Γ: ∂Φ_S maps into ker H.
    """
    S = jnp.asarray(S, zeta.dtype)
    dPhi_S, g3 = _adam_parts(loss_fn, zeta, S, rank, H)
    return -0.25 * c * (dPhi_S @ (S * g3))


@eqx.filter_jit
def adam_printed_velocity(loss_fn: LossFn, zeta: Array, c: float, S: Array, rank: int | None = None) -> Array:
    """WRONG, kept for tests only: Li–Wen–Lyu Theorem 5.1 as printed, −(c/2) S ∂Φ_S S ∇³L[S].

    The extra left S and the ½ (instead of ¼) come from a change-of-variables slip; this
    velocity is in general not tangent to Γ and was ruled out by direct simulation of discrete
    Adam (docs/theory.md#43-corrected-adaptive-slow-sde). Do not use it for predictions.
    """
    S = jnp.asarray(S, zeta.dtype)
    dPhi_S, g3 = _adam_parts(loss_fn, zeta, S, rank)
    return -0.5 * c * S * (dPhi_S @ (S * g3))


@eqx.filter_jit
def adam_quasi_static_velocity(
    loss_fn: LossFn, zeta: Array, c: float, eps: float = 0.0, power: float = 0.5, rank: int | None = None
) -> Array:
    """Adam velocity with v = c·diag H(ζ) (quasi-static, c₂T ≫ 1). At ε = 0, λ = ½ it equals
    −(√c/2) ∂Φ_S S ∇tr Diag(H)^{1/2} and does not depend on c (docs/theory.md#44-adam-under-label-noise)."""
    H = mf.hessian(loss_fn, zeta)
    S = adam_preconditioner(c * jnp.clip(jnp.diagonal(H), 0.0), eps, power)
    dPhi_S, g3 = _adam_parts(loss_fn, zeta, S, rank, H)
    return -0.25 * c * (dPhi_S @ (S * g3))


# ----------------------------------------------------------------------------- validation
def _check_optimizer_and_noise(noise_scale, optimizer):
    """The optimizer's family (a ValueError names an unknown one) after checking noise_scale."""
    family = _family(optimizer)
    c = float(noise_scale)
    if not np.isfinite(c) or c <= 0:
        raise ValueError(f"noise_scale must be a finite number > 0 (Σ = noise_scale·H), got {noise_scale!r}")
    return family


def _rank_and_gap(lam: np.ndarray) -> tuple[int, float]:
    """(#{λ > RANK_RTOL·λ_max}, smallest normal / largest tangent |λ|) of a symmetric spectrum."""
    lam_max = float(np.max(np.abs(lam)))
    if lam_max == 0.0:
        return 0, np.inf
    normal = lam > RANK_RTOL * lam_max
    r = int(normal.sum())
    if r == lam.size:
        return r, np.inf
    return r, float(np.min(lam[normal], initial=np.inf)) / max(float(np.max(np.abs(lam[~normal]))), 1e-300)


def _rank_diagnostics(loss_fn, zeta, xi):
    """Spectra of H at ζ and at a nearby point of Γ: ζ + δ·P_∥ξ/‖P_∥ξ‖ re-projected by Newton steps.

    Traceable (the rank is a traced integer); returns (λ(ζ), λ(nearby), δ, rank).
    """
    lam0, V = jnp.linalg.eigh(mf.hessian(loss_fn, zeta))
    lam_max = jnp.max(jnp.abs(lam0))
    r = jnp.sum(lam0 > RANK_RTOL * lam_max)
    tangent = jnp.arange(zeta.shape[0]) < zeta.shape[0] - r
    step = (V * tangent) @ (V.T @ xi)
    delta = 1e-3 * jnp.maximum(1.0, jnp.linalg.norm(zeta))
    near = zeta + delta * step / (jnp.linalg.norm(step) + 1e-300)
    near = mf.newton_retract(loss_fn, near, rank=r, num_iters=4)
    lam1 = jnp.linalg.eigvalsh(mf.hessian(loss_fn, near))
    return lam0, lam1, delta, r


_rank_diagnostics_jit = eqx.filter_jit(_rank_diagnostics)


def _probe_direction(D: int) -> Array:
    return jnp.asarray(np.random.default_rng(0).standard_normal(D))


def _check_rank(lam0, lam1, delta, check_nearby: bool = True) -> int:
    lam0, lam1 = np.asarray(lam0), np.asarray(lam1)
    r, gap = _rank_and_gap(lam0)
    if gap < RANK_GAP:
        raise ValueError(
            f"rank of the Hessian is ill-defined at zeta (normal/tangent eigenvalue ratio {gap:.3g} "
            f"< {RANK_GAP:g}): Γ is (nearly) singular here, the slow flow needs rank H constant near zeta"
        )
    if check_nearby and r < lam0.size:
        r_near, gap_near = _rank_and_gap(lam1)
        if r_near != r or gap_near < RANK_GAP:
            raise ValueError(
                f"rank of the Hessian is not constant near zeta (rank {r} at zeta, {r_near} at a point of Γ "
                f"at distance {float(delta):.1e}): Γ is singular near zeta, so the slow flow is not defined there"
            )
    return r


def manifold_rank(loss_fn: LossFn, zeta: Array, check_nearby: bool = True) -> int:
    """rank H(ζ) = D − dim Γ at ζ ∈ Γ, after checking that it is well defined and locally constant.

    Raises ValueError when the spectrum of H has no clear gap between tangent (≈0) and normal
    eigenvalues (ratio < RANK_GAP), or when the rank differs at a nearby point of Γ (ζ + δ·tangent,
    δ = 1e-3·max(1, ‖ζ‖), re-projected): then Γ is singular near ζ (e.g. a sparse point of a
    diagonal net) and the Slow SDE's assumption rank H = D − dim Γ fails (LWA; docs/theory.md#94-singular-points-of-the-manifold).
    """
    zeta = jnp.asarray(zeta)
    lam0, lam1, delta, _ = _rank_diagnostics_jit(loss_fn, zeta, _probe_direction(zeta.shape[0]))
    return _check_rank(lam0, lam1, delta, check_nearby)


def _check_on_manifold(loss_fn: LossFn, zeta: Array) -> None:
    _check_loss_value(float(loss_fn(zeta)))


def _check_loss_value(value: float) -> None:
    if not np.isfinite(value) or value > ON_MANIFOLD_LOSS_TOL:
        raise ValueError(
            f"zeta is not on Γ: L(zeta) = {value:.3e} > {ON_MANIFOLD_LOSS_TOL:g}. Project it first, e.g. "
            "zeta = sde.manifold.gradient_flow_projection(loss_fn, zeta) (or retract_to_manifold)"
        )


def _family(optimizer):
    """The optimizer family of a name or a family object (`sde.families`)."""
    from implicit_bias_lab.sde.families import AbstractOptimizerFamily, get_family

    return optimizer if isinstance(optimizer, AbstractOptimizerFamily) else get_family(optimizer)


def _core_velocity(loss_fn, zeta, v, c, family, eps, power, rank):
    """The family's label-noise velocity (Hessian route); `power` overrides the exponent λ of the
    coordinate-wise adaptive family (AdamE-λ), as `integrate_slow_flow` has always allowed."""
    return _with_power(family, power).slow_velocity(loss_fn, zeta, c, v, eps, rank)


def _with_power(family, power):
    from implicit_bias_lab.sde.families import DiagonalAdaptive

    if isinstance(family, DiagonalAdaptive) and power is not None:
        return type(family)(power=power)
    return family


def sgd_jacobian_velocity(residual_fn, zeta, c):
    """−(c/4)P_∥∇tr H from J = ∂r/∂θ (see `adam_jacobian_velocity`)."""
    jac = jax.jacrev(residual_fn)
    J = jac(zeta)
    g3 = jax.grad(lambda th: jnp.sum(jnp.mean(jac(th) ** 2, axis=0)))(zeta)
    return -0.25 * c * mf.project_tangent_with_jacobian(J, g3)


def adam_jacobian_velocity(residual_fn, zeta, v, c, eps, power):
    """The Adam velocity −(c/4)∂Φ_S S∇³L[S] (v = c·diag H when None) for a squared loss
    L = ½·mean(r²) from the Jacobian J = ∂r/∂θ (n × D).

    On Γ, H = JᵀJ/n, so range H = range Jᵀ: P_∥g = g − Jᵀ(JJᵀ)⁺Jg and ∂Φ_S u = u − SJᵀ(JSJᵀ)⁺Ju
    (docs/theory.md#42-preconditioned-projection) need only n × n Gram solves instead of
    eigendecompositions of the D × D Hessian; diag H = mean_k J_k² (Gauss–Newton); and
    ∇³L[Diag s] = ∇_θ Σ_j s_j H_jj equals ∇_θ Σ_j s_j mean_k J_kj² (s frozen) up to a vector in
    range Jᵀ (the r_k∇²r_k term, docs/theory.md#3-label-noise), which both projectors remove: one
    reverse pass through J instead of D Hessian-vector gradients. The same field on Γ; off Γ (inside a
    save interval, before re-projection) it differs from the Hessian route by O(‖r‖).
    """
    jac = jax.jacrev(residual_fn)
    J = jac(zeta)
    if v is None:
        v = c * jnp.mean(J * J, axis=0)
    return diagonal_jacobian_velocity(jac, J, zeta, c, adam_preconditioner(v, eps, power))


def diagonal_jacobian_velocity(jac, J, zeta, c, S):
    """−(c/4)∂Φ_S S∇³L[S] for L = ½·mean(r²) and a diagonal S > 0, from jac = ∂r/∂θ as a function
    and J = jac(ζ) (see `adam_jacobian_velocity` for the algebra)."""
    s = jax.lax.stop_gradient(S)
    u = S * jax.grad(lambda th: jnp.sum(s * jnp.mean(jac(th) ** 2, axis=0)))(zeta)
    G = J @ (S[:, None] * J.T)
    return -0.25 * c * (u - S * (J.T @ mf.gram_pinv_solve(G, J @ u)))


def adam_jacobian_v_velocity(residual_fn, zeta, v, c, c2):
    """dv/dt = c₂(c·diag H − v) with the Gauss–Newton diag H = mean_k J_k² (= diag H on Γ)."""
    J = jax.jacrev(residual_fn)(zeta)
    return c2 * (c * jnp.mean(J * J, axis=0) - v)


def _check_residual_fn(loss_fn, residual_fn, zeta0) -> None:
    probe = zeta0 + 1e-3 * _probe_direction(zeta0.shape[0]) * jnp.maximum(1.0, jnp.linalg.norm(zeta0)) / np.sqrt(zeta0.shape[0])
    r = jnp.asarray(residual_fn(probe))
    want, got = float(loss_fn(probe)), float(0.5 * jnp.mean(r * r))
    if r.ndim != 1 or not abs(want - got) <= 1e-8 * max(abs(want), 1e-300):
        raise ValueError(
            f"residual_fn must return the residual vector r with loss_fn = ½·mean(r²); near zeta0 loss_fn = {want:.6g}, "
            f"½·mean(r²) = {got:.6g} (shape {r.shape})"
        )


# ----------------------------------------------------------------------------- public API
def slow_velocity(loss_fn: LossFn, zeta: Array, *, noise_scale: float, optimizer, v: Array | None = None) -> Array:
    """dζ/dt at ζ ∈ Γ under label noise Σ = c∇²L, c = noise_scale, slow time t = η²k.

    optimizer="sgd": −(c/4) P_∥ ∇tr H (docs/theory.md#3-label-noise).
    optimizer="adam": −(c/4) ∂Φ_S S ∇³L[S], S = 1/√v (ε = 0), with the given second moment v
    or, when v is None, its fixed point v = c·diag H (then −(√c/2)∂Φ_S S ∇tr Diag(H)^{1/2},
    independent of c; docs/theory.md#44-adam-under-label-noise, corrected form of Li–Wen–Lyu Thm 5.1).

    Any other family (a name of `sde.families.FAMILIES` or a family object, e.g.
    `AdamMini(blocks=...)`): its `slow_velocity`, −(c/4)∂Φ_S S∇³L[S] with S = S(v) (v its fixed point
    when None).

    Raises ValueError for an unknown optimizer, noise_scale ≤ 0, ζ off Γ (L(ζ) > 1e-12) or a
    Hessian whose rank is not constant near ζ.
    """
    family = _check_optimizer_and_noise(noise_scale, optimizer)
    zeta = jnp.asarray(zeta, jnp.float64)
    if zeta.ndim != 1:
        raise ValueError(f"zeta must be a flat vector, got shape {zeta.shape}")
    if v is not None:
        v = jnp.asarray(v, jnp.float64)
        if v.shape != zeta.shape:
            raise ValueError(f"v must have the shape of zeta {zeta.shape}, got {v.shape}")
        if not family.has_state:
            raise ValueError(f"v is the second moment of an adaptive method; {family.name} has none")
    vel, loss_value, lam0, lam1, delta = _velocity_jit(
        loss_fn, zeta, v, jnp.asarray(float(noise_scale)), family, _probe_direction(zeta.shape[0])
    )
    _check_loss_value(float(loss_value))
    _check_rank(lam0, lam1, delta)
    return vel


@eqx.filter_jit
def _velocity_jit(loss_fn, zeta, v, c, family, xi):
    """One compiled call: velocity (with the traced rank at ζ) plus the data for the input checks."""
    lam0, lam1, delta, rank = _rank_diagnostics(loss_fn, zeta, xi)
    vel = _core_velocity(loss_fn, zeta, v, c, family, 0.0, None, rank)
    return vel, loss_fn(zeta), lam0, lam1, delta


class SlowFlowSolution(NamedTuple):
    """Output of `integrate_slow_flow`.

    times (K,), path (K, D) (after retraction when retract=True), distance_to_manifold (K,):
    first-order distance ‖H_r⁺∇L‖ of the integrated point to Γ before any retraction (the drift
    off Γ accumulated over one save interval), v (K, D) for Adam (quasi-static: c·diag H) or None,
    num_steps: accepted solver steps in total; status: a `RunStatus` code, MAX_TIME when the flow
    reached t1; with throw=False also STIFF (the solver ran out of steps) or FAILED (another solver
    failure or a non-finite state), the path then held at its last good state from there on.
    """

    times: Array
    path: Array
    distance_to_manifold: Array
    v: Array | None
    num_steps: Array
    status: Array


def integrate_slow_flow(
    loss_fn: LossFn,
    zeta0: Array,
    t1: float,
    *,
    noise_scale: float,
    optimizer,
    v0: Array | None = None,
    c2: float | None = None,
    eps: float = 0.0,
    num_saves: int = 11,
    retract: bool = True,
    power: float | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
    residual_fn: Callable[[Array], Array] | None = None,
    extinction_floor: float = 0.0,
    throw: bool = True,
) -> SlowFlowSolution:
    """Integrate the label-noise slow flow from ζ0 ∈ Γ to slow time t1 (Diffrax Tsit5, adaptive).

    SGD: dζ/dt = −(c/4)P_∥∇tr H. Adam (S = 1/(v^power + eps), power = ½ unless given): with c2 given,
    (ζ, v) jointly with dv/dt = c₂(c·diag H − v), v(0) = v0 or c·diag H(ζ0); otherwise quasi-static
    v = c·diag H(ζ) (v0 ignored). Any other family of `sde.families` (by name, or as an object with
    its structure, e.g. `AdamMini(blocks=...)`, `Shampoo(shapes=...)`): the same with its own
    𝒱 and S, dv/dt = c₂(𝒱(cH) − v) (v a pytree for Shampoo). Saves at `num_saves` equally spaced times; with retract=True each save
    interval is integrated separately and its end point re-projected onto Γ by Newton steps
    θ ← θ − H_r⁺∇L (the Gauss–Newton step J⁺r for squared loss) before continuing.

    residual_fn: the residuals r(θ) ∈ Rⁿ of a squared loss L = ½·mean(r²) (the convention of
    models.SquaredLossProblem; checked at a point near ζ0, ValueError otherwise). Then the field is
    built from J = ∂r/∂θ (`adam_jacobian_velocity`: n × n Gram solves, Gauss–Newton diag H, one reverse
    pass for ∇³L[S] instead of D) and the re-projection is Gauss–Newton θ ← θ − J⁺r: the same flow
    on Γ, ≈ 30× cheaper per step than the Hessian route on a 5-layer net with D = 320, n = 40
    (experiments.matrix_factorization). The rank check at ζ0 is still done on H.

    extinction_floor (needs retract=True; 0 = off): at the end of each save interval, before the
    re-projection, coordinates with |ζ_j| < extinction_floor·max|ζ| are set to exactly 0 (an
    extinction event). With ε > 0 a dying unit of the Adam flow decays exponentially at a rate ∝ c/ε²
    (docs/theory.md#64-finite-time-extinction for ε = 0) that an explicit solver must resolve for as
    long as the unit is not exactly 0; in a product of weights (deep linear net, diagonal net) a unit
    whose weights are all 0 has zero velocity (every derivative through it carries a factor of its
    other weights), so the stiff mode is gone from the next interval on. Changes the path by O(floor)
    in the dead coordinates. Measured (experiments.matrix_factorization, preset `claim`, 5 layers,
    Adam, floor 1e-8): 36 674 → 9 284 solver steps, end values equal to 1e-9.

    throw: True (default) raises Diffrax's error when the solver fails or runs out of `max_steps`;
    False returns instead, with `status` STIFF or FAILED and the path held at its last good state
    (a sweep records the status and goes on; never a silent NaN).
    """
    require_x64("sde.slow.integrate_slow_flow")
    family = _check_optimizer_and_noise(noise_scale, optimizer)
    if not (np.isfinite(float(t1)) and float(t1) > 0):
        raise ValueError(f"t1 must be a finite slow time > 0, got {t1!r}")
    if int(num_saves) < 2:
        raise ValueError(f"num_saves must be >= 2, got {num_saves!r}")
    if float(eps) < 0:
        raise ValueError(f"eps must be >= 0, got {eps!r}")
    if c2 is not None and not float(c2) > 0:
        raise ValueError(f"c2 = (1 - beta2)/eta^2 must be > 0, got {c2!r}")
    if not 0 <= float(extinction_floor) < 1 or (float(extinction_floor) > 0 and not retract):
        raise ValueError(f"extinction_floor must lie in [0, 1) and needs retract=True, got {extinction_floor!r}")
    zeta0 = jnp.asarray(zeta0, jnp.float64)
    _check_on_manifold(loss_fn, zeta0)
    rank = manifold_rank(loss_fn, zeta0)
    if residual_fn is not None:
        _check_residual_fn(loss_fn, residual_fn, zeta0)
    c = float(noise_scale)
    joint = family.has_state and c2 is not None
    if joint:
        v_init = family.label_noise_fixed_point(loss_fn, zeta0, c) if v0 is None else jax.tree_util.tree_map(
            lambda a: jnp.asarray(a, jnp.float64), v0)
        want = jax.tree_util.tree_map(jnp.shape, family.label_noise_fixed_point(loss_fn, zeta0, c))
        if jax.tree_util.tree_map(jnp.shape, v_init) != want:
            raise ValueError(f"v0 must have the shape of {family.name}'s second moment {want}, got "
                             f"{jax.tree_util.tree_map(jnp.shape, v_init)}")
        y0 = (zeta0, v_init)
    else:
        y0 = zeta0
    ts = jnp.linspace(0.0, float(t1), int(num_saves))
    return _integrate_jit(
        loss_fn, y0, ts, jnp.asarray(c), family, None if c2 is None else jnp.asarray(float(c2)),
        jnp.asarray(float(eps)), None if power is None else jnp.asarray(float(power)),
        rank, bool(retract), float(rtol), float(atol), int(max_steps), residual_fn, float(extinction_floor), bool(throw),
    )


@eqx.filter_jit
def _solve_status(sol, y_end) -> Array:
    """The RunStatus of one Diffrax solve: MAX_TIME (reached its end), STIFF (out of steps) or FAILED."""
    finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(a)) for a in jax.tree_util.tree_leaves(y_end)]))
    ok = (sol.result == diffrax.RESULTS.successful) & finite
    stiff = sol.result == diffrax.RESULTS.max_steps_reached
    return jnp.where(ok, int(RunStatus.MAX_TIME), jnp.where(stiff, int(RunStatus.STIFF), int(RunStatus.FAILED)))


def _integrate_jit(loss_fn, y0, ts, c, family, c2, eps, power, rank, retract, rtol, atol, max_steps,
                   residual_fn=None, extinction_floor=0.0, throw=True):
    joint = isinstance(y0, tuple)
    family = _with_power(family, power)

    def velocity(zeta, v):
        if residual_fn is None:
            return family.slow_velocity(loss_fn, zeta, c, v, eps, rank)
        return family.jacobian_slow_velocity(residual_fn, zeta, c, v, eps)

    def field(t, y, args):
        if joint:
            zeta, v = y
            if residual_fn is None:
                return velocity(zeta, v), family.label_noise_state_velocity(loss_fn, zeta, v, c, c2)
            return velocity(zeta, v), family.jacobian_state_velocity(residual_fn, zeta, v, c, c2)
        return velocity(y, None)

    term = diffrax.ODETerm(field)
    solver = diffrax.Tsit5()
    controller = diffrax.PIDController(rtol=rtol, atol=atol)
    zeta_of = (lambda y: y[0]) if joint else (lambda y: y)
    if residual_fn is None:
        dist = lambda z: mf.newton_distance_to_manifold(loss_fn, z, rank=rank)
        retract_fn = lambda z: mf.newton_retract(loss_fn, z, rank=rank, num_iters=3)
    else:
        dist = lambda z: mf.distance_to_manifold(residual_fn, z)
        retract_fn = lambda z: mf.retract_to_manifold(residual_fn, z, num_iters=3)

    def v_of(y):
        if joint:
            return y[1]
        if family.has_state:
            return family.label_noise_fixed_point(loss_fn, y, c)
        return None

    tree_map = jax.tree_util.tree_map
    if retract:
        def segment(carry, t_pair):
            y, status = carry
            going = status == int(RunStatus.MAX_TIME)
            # after a failure (throw=False only) the rest integrates over empty intervals
            t_stop = t_pair[1] if throw else jnp.where(going, t_pair[1], t_pair[0])
            sol = diffrax.diffeqsolve(
                term, solver, t_pair[0], t_stop, None, y,
                stepsize_controller=controller, max_steps=max_steps, throw=throw,
            )
            y_end = tree_map(lambda a: a[-1], sol.ys)
            z_end = zeta_of(y_end)
            d = dist(z_end)
            if extinction_floor > 0:
                z_end = jnp.where(jnp.abs(z_end) < extinction_floor * jnp.max(jnp.abs(z_end)), 0.0, z_end)
            z_new = retract_fn(z_end)
            y_new = (z_new, y_end[1]) if joint else z_new
            if not throw:
                status = jnp.where(going, _solve_status(sol, y_new), status)
                good = status == int(RunStatus.MAX_TIME)  # it was going and this segment finished
                y_new = tree_map(lambda a, b: jnp.where(good, a, b), y_new, y)
            return (y_new, status), (y_new, d, sol.stats["num_accepted_steps"])

        (_, status), (ys, ds, steps) = jax.lax.scan(
            segment, (y0, jnp.asarray(int(RunStatus.MAX_TIME))), jnp.stack([ts[:-1], ts[1:]], axis=1))
        ys = tree_map(lambda a0, a: jnp.concatenate([a0[None], a]), y0, ys)
        ds = jnp.concatenate([dist(zeta_of(y0))[None], ds])
        n_steps = jnp.sum(steps)
    else:
        sol = diffrax.diffeqsolve(
            term, solver, ts[0], ts[-1], None, y0, saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=controller, max_steps=max_steps, throw=throw,
        )
        ys = sol.ys
        status = jnp.asarray(int(RunStatus.MAX_TIME))
        if not throw:
            status = _solve_status(sol, tree_map(lambda a: a[-1], ys))
            # Diffrax fills the saves after a failure with inf: hold the last finite save instead
            keep = jnp.cumsum(~jnp.all(jnp.isfinite(zeta_of(ys)), axis=1)) == 0
            last = jnp.sum(keep) - 1
            ys = tree_map(lambda a: jnp.where(keep.reshape((-1,) + (1,) * (a.ndim - 1)), a, a[last]), ys)
        ds = jax.vmap(dist)(zeta_of(ys))
        n_steps = sol.stats["num_accepted_steps"]
    path = zeta_of(ys)
    vs = ys[1] if joint else (jax.vmap(lambda z: v_of(z))(path) if family.has_state else None)
    return SlowFlowSolution(ts, path, ds, vs, n_steps, status)


__all__ = [
    "SlowFlowSolution",
    "adam_fixed_point_v",
    "adam_jacobian_v_velocity",
    "adam_jacobian_velocity",
    "adam_label_noise_velocity",
    "adam_preconditioner",
    "adam_printed_velocity",
    "adam_quasi_static_velocity",
    "adam_slow_sde_diffusion",
    "adam_slow_sde_drift",
    "adam_v_velocity",
    "diagonal_jacobian_velocity",
    "integrate_slow_flow",
    "manifold_rank",
    "sgd_jacobian_velocity",
    "sgd_label_noise_velocity",
    "slow_sde_diffusion",
    "slow_sde_drift",
    "slow_velocity",
    "symmetric_sqrt",
]


def adam_timescale(learning_rate: float, b2: float, *, max_c2_eta: float = 0.5) -> float:
    """c₂ = (1 − β₂)/η², the rate of the slow v equation dv/dt = c₂(c·diag H − v) (Li–Wen–Lyu §4).

    The Adam Slow SDE assumes 1 − β₂ = c₂η² with c₂ = O(1). Raises a ValueError that says what to
    do for η ≤ 0, β₂ outside [0, 1), or 1 − β₂ ≫ η² (c₂η > `max_c2_eta`): with 1 − β₂ = η the
    discrete drift is 16–27 % slower than the flow and closes the gap only slowly
    (docs/theory.md#102-rmsprop-and-adam-against-the-adam-slow-flow).
    """
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if not 0 <= b2 < 1:
        raise ValueError(f"b2 must lie in [0, 1), got {b2}")
    c2 = (1.0 - b2) / learning_rate**2
    if c2 * learning_rate > max_c2_eta:
        raise ValueError(
            f"b2={b2} with learning_rate={learning_rate} is outside the Adam slow-SDE scaling: "
            f"1 − β₂ = {1 - b2:.3g} should be c₂η² with c₂ = O(1), but c₂η = {c2 * learning_rate:.3g} > {max_c2_eta}. "
            f"Use b2 = 1 − c₂·η² (e.g. c₂ = 20 gives b2 = {1 - 20 * learning_rate**2:.6g}), or compare with the "
            "quasi-static flow knowing the discrete drift is 16–27 % slower there."
        )
    return c2
