"""Objects of the minimizer manifold Γ of a loss L given as a JAX function of a flat vector.

Conventions (docs/theory.md#1-conventions): H = ∇²L, P_∥ = orthogonal projector onto
T_ζΓ = ker H, P_⊥ = I − P_∥, ∇³L[A] := ∇_θ⟨∇²L(θ), A⟩ with A held fixed.

Sources: Li, Wang, Arora (ICLR 2022), main theorem and its ∂Φ, ∂²Φ on Γ
(docs/theory.md#2-slow-sde); Li, Wen, Lyu (NeurIPS 2025) lemmas on the
preconditioned projection Φ_S (docs/theory.md#42-preconditioned-projection).

Everything here is float64: importing this module turns on JAX's x64 mode, as `models` does.
"""

from __future__ import annotations

from typing import Any, Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array


LossFn = Callable[[Array], Array]

#: Default relative cutoff separating the normal (λ > rtol·λ_max) from the tangent eigenvalues.
DEFAULT_RTOL = 1e-9


# ----------------------------------------------------------------------------- derivatives
@eqx.filter_jit
def hessian(loss_fn: LossFn, theta: Array) -> Array:
    """H = ∇²L(θ) (D×D, forward-over-reverse)."""
    return jax.jacfwd(jax.grad(loss_fn))(theta)


def hvp(loss_fn: LossFn, theta: Array, vec: Array) -> Array:
    """Hessian-vector product ∇²L(θ)·vec (forward-over-reverse, no D×D matrix)."""
    return jax.jvp(jax.grad(loss_fn), (theta,), (vec,))[1]


def _weighted_quadratic_gradients(loss_fn: LossFn, theta: Array, vecs: Array, weights: Array) -> Array:
    """Σ_k w_k ∇_θ (a_kᵀ ∇²L(θ) a_k) for the rows a_k of `vecs` (held fixed)."""
    vecs = jax.lax.stop_gradient(vecs)
    weights = jax.lax.stop_gradient(weights)

    def one(a):
        return jax.grad(lambda th: jnp.vdot(a, hvp(loss_fn, th, a)))(theta)

    return jnp.einsum("k,kd->d", weights, jax.lax.map(one, vecs) if vecs.shape[0] > 256 else jax.vmap(one)(vecs))


@eqx.filter_jit
def third_derivative_contraction(loss_fn: LossFn, theta: Array, A: Array) -> Array:
    """∇³L(θ)[A] = ∇_θ⟨∇²L(θ), A⟩ with A frozen (docs/theory.md#1-conventions).

    Only the symmetric part of A matters (H is symmetric). With A_sym = Σ_k μ_k a_k a_kᵀ
    (eigendecomposition) this is Σ_k μ_k ∇(a_kᵀ H a_k), each term one gradient of a
    Hessian-vector product: the D×D×D tensor is never formed.
    """
    A = jax.lax.stop_gradient(jnp.asarray(A))
    mu, vecs = jnp.linalg.eigh(0.5 * (A + A.T))
    return _weighted_quadratic_gradients(loss_fn, theta, vecs.T, mu)


@eqx.filter_jit
def third_derivative_contraction_diag(loss_fn: LossFn, theta: Array, s: Array) -> Array:
    """∇³L(θ)[Diag(s)] = ∇_θ Σ_j s_j H_jj(θ) with s frozen; ∇³L[I] = ∇ tr H."""
    eye = jnp.eye(theta.shape[0], dtype=theta.dtype)
    return _weighted_quadratic_gradients(loss_fn, theta, eye, jnp.asarray(s, theta.dtype))


@eqx.filter_jit
def grad_trace_hessian(loss_fn: LossFn, theta: Array) -> Array:
    """∇ tr ∇²L(θ) = ∇³L[I]."""
    return third_derivative_contraction_diag(loss_fn, theta, jnp.ones_like(theta))


# ----------------------------------------------------------------------------- spectra, projectors
def normal_mask(eigvals: Array, rtol: float = DEFAULT_RTOL, rank: int | Array | None = None) -> Array:
    """Boolean mask of the normal eigen-directions (ascending eigenvalues from eigh).

    With `rank` (an int, static or traced) the top-`rank` eigenvalues are normal (robust slightly off Γ, where the
    tangent eigenvalues are O(residual), not 0); otherwise λ > rtol·max|λ|.
    """
    if rank is not None:
        return jnp.arange(eigvals.shape[0]) >= eigvals.shape[0] - rank
    scale = jnp.max(jnp.abs(eigvals))
    return eigvals > rtol * scale


def spectral_parts(H: Array, rtol: float = DEFAULT_RTOL, rank: int | None = None):
    """(λ, V, mask, P_∥, H†) from eigh(H) with the cutoff of `normal_mask`."""
    lam, V = jnp.linalg.eigh(0.5 * (H + H.T))
    mask = normal_mask(lam, rtol, rank)
    inv = jnp.where(mask, 1.0 / jnp.where(mask, lam, 1.0), 0.0)
    P_par = (V * (~mask)) @ V.T
    H_pinv = (V * inv) @ V.T
    return lam, V, mask, P_par, H_pinv


@eqx.filter_jit
def tangent_projector(H: Array, rtol: float = DEFAULT_RTOL, rank: int | None = None) -> Array:
    """P_∥ = projector onto ker H from eigh(H), eigenvalues ≤ rtol·λ_max counted as 0 (docs/theory.md#2-slow-sde)."""
    return spectral_parts(H, rtol, rank)[3]


@eqx.filter_jit
def gram_pinv_solve(G: Array, b: Array, rtol: float = 1e-12) -> Array:
    """G⁺b for a symmetric PSD Gram matrix G (eigh with relative cutoff; never a plain solve).

    Near sparse points of a diagonal net, J loses rank and G = JJᵀ is singular (docs/theory.md#94-singular-points-of-the-manifold).
    """
    lam, V = jnp.linalg.eigh(0.5 * (G + G.T))
    keep = lam > rtol * jnp.max(jnp.abs(lam))
    inv = jnp.where(keep, 1.0 / jnp.where(keep, lam, 1.0), 0.0)
    return V @ (inv[..., None] * (V.T @ b)) if b.ndim > 1 else V @ (inv * (V.T @ b))


@eqx.filter_jit
def tangent_projector_from_jacobian(J: Array, rtol: float = 1e-12) -> Array:
    """P_∥ = I − Jᵀ(JJᵀ)⁺J for squared loss (ker H = ker J on Γ), J of shape (n, D)."""
    D = J.shape[1]
    return jnp.eye(D, dtype=J.dtype) - J.T @ gram_pinv_solve(J @ J.T, J, rtol)


@eqx.filter_jit
def project_tangent_with_jacobian(J: Array, g: Array, rtol: float = 1e-12) -> Array:
    """P_∥ g = g − Jᵀ(JJᵀ)⁺Jg without forming a D×D matrix (n×n Gram only)."""
    return g - J.T @ gram_pinv_solve(J @ J.T, J @ g, rtol)


@eqx.filter_jit
def lyapunov_inverse(H: Array, M: Array, rtol: float = DEFAULT_RTOL, rank: int | None = None) -> Array:
    """𝓛_H⁻¹(M): the X on range H with HX + XH = M, X_ij = M_ij/(λ_i+λ_j) in H's eigenbasis (docs/theory.md#2-slow-sde).

    Entries where λ_i or λ_j is a tangent (zero) eigenvalue are set to 0, so pass M = Σ_⊥.
    """
    lam, V, mask, _, _ = spectral_parts(H, rtol, rank)
    Mt = V.T @ M @ V
    both = mask[:, None] & mask[None, :]
    denom = jnp.where(both, lam[:, None] + lam[None, :], 1.0)
    return V @ jnp.where(both, Mt / denom, 0.0) @ V.T


@eqx.filter_jit
def oblique_projector(N: Array, S: Array, rtol: float = 1e-12) -> Array:
    """∂Φ_S = I − S N (Nᵀ S N)⁺ Nᵀ (Li–Wen–Lyu lemmas; docs/theory.md#42-preconditioned-projection).

    N: a (D, r) basis of range H (N = Jᵀ for squared loss; zero columns are allowed and ignored);
    S: the preconditioner, a vector (diagonal) or a D×D SPD matrix. An oblique projector onto
    T_ζΓ with ∂Φ_S S H = 0 and ∂Φ_S S symmetric.
    """
    S_mat = jnp.diag(S) if jnp.ndim(S) == 1 else S
    SN = S_mat @ N
    core = gram_pinv_solve(N.T @ SN, N.T, rtol)
    return jnp.eye(N.shape[0], dtype=N.dtype) - SN @ core


@eqx.filter_jit
def normal_basis(H: Array, rtol: float = DEFAULT_RTOL, rank: int | None = None) -> Array:
    """Eigenvectors of H spanning range H, as D×D with the tangent columns zeroed (jittable)."""
    _, V, mask, _, _ = spectral_parts(H, rtol, rank)
    return V * mask


@eqx.filter_jit
def preconditioned_projection_jacobian(
    loss_fn: LossFn, zeta: Array, S: Array, rtol: float = DEFAULT_RTOL, rank: int | None = None
) -> Array:
    """∂Φ_S(ζ) on Γ from H(ζ): oblique_projector(normal_basis(H), S)."""
    return oblique_projector(normal_basis(hessian(loss_fn, zeta), rtol, rank), S)


# ----------------------------------------------------------------------------- ∂²Φ on Γ
@eqx.filter_jit
def projection_second_derivative(
    loss_fn: LossFn, zeta: Array, Sigma: Array, rtol: float = DEFAULT_RTOL, rank: int | None = None
) -> Array:
    """∂²Φ(ζ)[Σ] on Γ (Li–Wang–Arora; docs/theory.md#2-slow-sde):

        −H†∇³L[Σ_∥] − P_∥∇³L[𝓛_H⁻¹(Σ_⊥)] − 2 P_∥∇³L[H†Σ_⊥∥],

    Σ_∥ = P_∥ΣP_∥, Σ_⊥ = P_⊥ΣP_⊥, Σ_⊥∥ = P_⊥ΣP_∥. The last two terms share one contraction.
    """
    H = hessian(loss_fn, zeta)
    lam, V, mask, P_par, H_pinv = spectral_parts(H, rtol, rank)
    P_perp = jnp.eye(zeta.shape[0], dtype=zeta.dtype) - P_par
    Sig_par = P_par @ Sigma @ P_par
    Sig_perp = P_perp @ Sigma @ P_perp
    Sig_mix = P_perp @ Sigma @ P_par
    # 𝓛_H⁻¹(Σ_⊥) in the eigenbasis already computed
    Mt = V.T @ Sig_perp @ V
    both = mask[:, None] & mask[None, :]
    lyap = V @ jnp.where(both, Mt / jnp.where(both, lam[:, None] + lam[None, :], 1.0), 0.0) @ V.T
    mixed = H_pinv @ Sig_mix
    t_tangent = third_derivative_contraction(loss_fn, zeta, Sig_par)
    t_normal = third_derivative_contraction(loss_fn, zeta, lyap + mixed + mixed.T)
    return -H_pinv @ t_tangent - P_par @ t_normal


@eqx.filter_jit
def preconditioned_projection_second_derivative(
    loss_fn: LossFn, zeta: Array, Sigma: Array, S: Array, rtol: float = DEFAULT_RTOL, rank: int | None = None
) -> Array:
    """∂²Φ_S(ζ)[Σ] for a frozen diagonal preconditioner S > 0 (docs/theory.md#43-corrected-adaptive-slow-sde).

    Change of variables x = S^{1/2}x′: Φ_S(x) = S^{1/2}Φ′(S^{−1/2}x) with Φ′ the plain
    gradient-flow projection of L′(x′) = L(S^{1/2}x′), so ∂²Φ_S[Σ] = S^{1/2}∂²Φ′[S^{−1/2}ΣS^{−1/2}].
    (The Adam drift ½∂²Φ_S[SΣS] is therefore S^{1/2}·½∂²Φ′[S^{1/2}ΣS^{1/2}].)
    """
    r = jnp.sqrt(jnp.asarray(S, zeta.dtype))
    loss_prime = lambda xp: loss_fn(r * xp)  # noqa: E731
    Sig_prime = Sigma / r[:, None] / r[None, :]
    return r * projection_second_derivative(loss_prime, zeta / r, Sig_prime, rtol, rank)


# ----------------------------------------------------------------------------- Φ by integration
@eqx.filter_jit
def gradient_flow_projection(
    loss_fn: LossFn,
    x: Array,
    *,
    preconditioner: Array | None = None,
    horizon: float = 50.0,
    dt: float | None = 0.01,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_steps: int | None = None,
    solver: diffrax.AbstractSolver | None = None,
) -> Array:
    """Φ(x) = lim_{s→∞} φ(x, s), ∂_sφ = −S∇L(φ) (S = I, or Φ_S with a diagonal `preconditioner`).

    Li–Wang–Arora (Φ, docs/theory.md#2-slow-sde), Li–Wen–Lyu (Φ_S). Two modes:
    * `dt` given (default): Tsit5 with ConstantStepSize over [0, horizon] and
      `adjoint=diffrax.ForwardMode()`, so `jax.jacfwd` (also nested) gives ∂Φ, ∂²Φ exactly up to
      the truncation e^{−λ_min·horizon}. Forward-mode AD through adaptive steps corrupts second
      derivatives (docs/theory.md#93-float64). Needs dt·λ_max ≲ 1.
    * `dt=None`: adaptive Tsit5 (PID, rtol/atol) with a steady-state event; for values only.
    `solver` overrides Tsit5 (e.g. diffrax.Dopri8() for larger constant steps).
    """
    x = jnp.asarray(x)
    s = None if preconditioner is None else jnp.asarray(preconditioner, x.dtype)
    grad_fn = jax.grad(loss_fn)

    def field(t, y, args):
        g = grad_fn(y)
        return -g if s is None else -s * g

    term = diffrax.ODETerm(field)
    solver = diffrax.Tsit5() if solver is None else solver
    if dt is not None:
        n_steps = int(round(horizon / dt))
        sol = diffrax.diffeqsolve(
            term, solver, 0.0, horizon, dt, x,
            stepsize_controller=diffrax.ConstantStepSize(),
            adjoint=diffrax.ForwardMode(),
            max_steps=max_steps if max_steps is not None else n_steps + 1,
        )
    else:
        sol = diffrax.diffeqsolve(
            term, solver, 0.0, horizon, None, x,
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
            event=diffrax.Event(diffrax.steady_state_event(rtol=rtol, atol=atol)),
            max_steps=max_steps if max_steps is not None else 1_000_000,
        )
    return sol.ys[-1]


# ----------------------------------------------------------------------------- retraction
def _residual_and_jacobian(residual_fn_or_problem: Any, theta: Array):
    obj = residual_fn_or_problem
    if hasattr(obj, "residuals") and hasattr(obj, "jacobian"):
        return obj.residuals(theta), obj.jacobian(theta)
    if callable(obj):
        return obj(theta), jax.jacfwd(obj)(theta)
    raise TypeError(
        "retract_to_manifold needs a residual function r(theta) -> (n,) or a problem with "
        f".residuals and .jacobian, got {type(obj).__name__}"
    )


@eqx.filter_jit
def gauss_newton_step(residual_fn_or_problem: Any, theta: Array, rtol: float = 1e-12) -> Array:
    """Jᵀ(JJᵀ)⁺r = J⁺r: the minimum-norm Gauss–Newton step back to Γ = {r = 0}."""
    r, J = _residual_and_jacobian(residual_fn_or_problem, theta)
    return J.T @ gram_pinv_solve(J @ J.T, r, rtol)


@eqx.filter_jit
def retract_to_manifold(
    residual_fn_or_problem: Any,
    theta: Array,
    num_iters: int = 6,
    rtol: float = 1e-12,
    *,
    metric: Array | None = None,
    damped: bool = False,
) -> Array:
    """A point of Γ = {r = 0} near θ by iterated Gauss–Newton steps (docs/theory.md#94-singular-points-of-the-manifold).

    Accepts a residual function r(θ) (vector) or an object with `.residuals` and `.jacobian`
    (e.g. models.SquaredLossProblem). The variants, one step each:

    * default: θ ← θ − Jᵀ(JJᵀ)⁺r, the minimum-norm step; quadratically convergent where J has
      constant rank; its limit is the orthogonal projection Φ to first order;
    * `metric=S` (a positive vector, the diagonal of a preconditioner): θ ← θ − S Jᵀ(J S Jᵀ)⁺r, the
      oblique projection in the metric S⁻¹, equal to the preconditioned gradient flow's limit Φ_S
      to first order (docs/theory.md#42-preconditioned-projection);
    * `damped=True`: θ ← θ − Jᵀ(JJᵀ + ‖r‖I)⁻¹r, Levenberg–Marquardt with μ = ‖r‖ (Yamashita &
      Fukushima 2001): quadratic convergence to Γ also where J is ill-conditioned, where plain
      steps J⁺r jump far along J's small singular directions; equal to J⁺r to first order in ‖r‖.
    """
    if damped and metric is not None:
        raise ValueError("retract_to_manifold: give metric or damped, not both")

    def body(_, th):
        if metric is None and not damped:
            return th - gauss_newton_step(residual_fn_or_problem, th, rtol)
        r, J = _residual_and_jacobian(residual_fn_or_problem, th)
        if damped:
            G = J @ J.T + jnp.linalg.norm(r) * jnp.eye(r.shape[0], dtype=th.dtype)
            return th - J.T @ gram_pinv_solve(G, r, rtol)
        return th - metric * (J.T @ gram_pinv_solve((J * metric) @ J.T, r, rtol))

    return jax.lax.fori_loop(0, num_iters, body, theta)


@eqx.filter_jit
def distance_to_manifold(residual_fn_or_problem: Any, theta: Array, rtol: float = 1e-12) -> Array:
    """‖J⁺r‖: length of the Gauss–Newton step to Γ (first-order distance to Γ)."""
    return jnp.linalg.norm(gauss_newton_step(residual_fn_or_problem, theta, rtol))


def newton_step(loss_fn: LossFn, theta: Array, rank: int | None = None, rtol: float = DEFAULT_RTOL) -> Array:
    """H_r⁺∇L: Newton step towards Γ using only the normal eigen-directions of H.

    For a loss given only as loss_fn. Near Γ, for squared loss, it equals the Gauss–Newton step
    J⁺r to first order. Give `rank` (= D − dim Γ) off Γ, where tangent eigenvalues are not 0.
    """
    H = hessian(loss_fn, theta)
    return spectral_parts(H, rtol, rank)[4] @ jax.grad(loss_fn)(theta)


@eqx.filter_jit
def newton_retract(
    loss_fn: LossFn, theta: Array, rank: int | None = None, num_iters: int = 6, rtol: float = DEFAULT_RTOL
) -> Array:
    """θ ← θ − H_r⁺∇L iterated: re-projection onto Γ from the loss alone."""
    def body(_, th):
        return th - newton_step(loss_fn, th, rank, rtol)

    return jax.lax.fori_loop(0, num_iters, body, theta)


@eqx.filter_jit
def newton_distance_to_manifold(loss_fn: LossFn, theta: Array, rank: int | None = None, rtol: float = DEFAULT_RTOL) -> Array:
    """‖H_r⁺∇L‖: first-order distance to Γ from the loss alone."""
    return jnp.linalg.norm(newton_step(loss_fn, theta, rank, rtol))


__all__ = [
    "DEFAULT_RTOL",
    "distance_to_manifold",
    "gauss_newton_step",
    "grad_trace_hessian",
    "gradient_flow_projection",
    "gram_pinv_solve",
    "hessian",
    "hvp",
    "lyapunov_inverse",
    "newton_distance_to_manifold",
    "newton_retract",
    "newton_step",
    "normal_basis",
    "normal_mask",
    "oblique_projector",
    "preconditioned_projection_jacobian",
    "preconditioned_projection_second_derivative",
    "project_tangent_with_jacobian",
    "projection_second_derivative",
    "retract_to_manifold",
    "spectral_parts",
    "tangent_projector",
    "tangent_projector_from_jacobian",
    "third_derivative_contraction",
    "third_derivative_contraction_diag",
]
