"""Objects of the minimizer manifold Γ (sde.manifold) against autodiff through a numerically
integrated gradient-flow projection Φ (docs/theory.md#2-slow-sde).

Each test compares two independent routes with a tolerance a wrong constant would break.
"""

import functools

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_bias_lab import models
from implicit_bias_lab.sde import manifold as mf


def loss_4d(th):
    """4-D loss with a curved 2-D Γ = {θ₀θ₁ = 1, θ₂² + θ₃² + 0.3θ₀θ₂ = 1}."""
    return 0.5 * (th[0] * th[1] - 1) ** 2 + 0.5 * (th[2] ** 2 + th[3] ** 2 + 0.3 * th[0] * th[2] - 1) ** 2


def loss_3d(th):
    """3-D loss with a curved 1-D Γ (sphere ∩ saddle surface)."""
    return 0.5 * (th @ th - 1) ** 2 + 0.5 * (th[2] - 0.5 * th[0] * th[1]) ** 2


CASES = {
    "4d_rank2": (loss_4d, jnp.array([1.3, 0.9, 0.7, 0.5]), 2),
    "3d_rank2": (loss_3d, jnp.array([0.6, 0.7, 0.3]), 2),
}


def projection(loss_fn, preconditioner=None):
    """Φ (or Φ_S) by Dopri8 with constant steps and the forward-mode adjoint: jacfwd-able."""
    return lambda x: mf.gradient_flow_projection(  # noqa: E731
        loss_fn, x, preconditioner=preconditioner, horizon=25.0, dt=0.1, solver=diffrax.Dopri8()
    )


@functools.lru_cache(maxsize=None)
def point_of(name):
    loss_fn, x0, rank = CASES[name]
    return on_manifold(loss_fn, x0, rank)


def on_manifold(loss_fn, x0, rank):
    z = mf.gradient_flow_projection(loss_fn, x0, dt=None, horizon=200.0)
    z = mf.newton_retract(loss_fn, z, rank=rank)
    assert float(loss_fn(z)) < 1e-28
    return z


@pytest.mark.parametrize("name", sorted(CASES))
def test_closed_forms_match_autodiff_through_phi(name):
    """∂Φ = P_∥ and the three-term ∂²Φ[Σ] (LWA) equal jacfwd/jacfwd² of Φ (ConstantStepSize +
    ForwardMode adjoint) for random SPD Σ, to 1e-8."""
    loss_fn, x0, rank = CASES[name]
    z = point_of(name)
    D = z.shape[0]
    Phi = projection(loss_fn)
    dPhi, d2Phi = jax.jit(lambda x: (jax.jacfwd(Phi)(x), jax.jacfwd(jax.jacfwd(Phi))(x)))(z)
    H = mf.hessian(loss_fn, z)
    P = mf.tangent_projector(H)
    assert np.linalg.matrix_rank(np.asarray(P), tol=1e-8) == D - rank
    np.testing.assert_allclose(dPhi, P, atol=1e-8)
    rng = np.random.default_rng(0)
    for _ in range(3):
        A = rng.standard_normal((D, D))
        Sigma = jnp.asarray(A @ A.T + 0.1 * np.eye(D))
        ref = jnp.einsum("ijk,jk->i", d2Phi, Sigma)
        closed = mf.projection_second_derivative(loss_fn, z, Sigma)
        assert float(jnp.max(jnp.abs(ref))) > 1e-2  # a non-trivial second derivative
        np.testing.assert_allclose(closed, ref, atol=1e-8, rtol=0)


def test_third_derivative_contraction_matches_tensor():
    """∇³L[A] (HVP route, A frozen) equals the explicit contraction of jax's ∇³L tensor, A non-symmetric."""
    loss_fn, x0, _ = CASES["4d_rank2"]
    theta = x0 + 0.1
    A = jnp.asarray(np.random.default_rng(1).standard_normal((4, 4)))
    T = jax.jacfwd(jax.hessian(loss_fn))(theta)  # T[i, j, k] = ∂_k ∂_i ∂_j L
    ref = jnp.einsum("ijk,ij->k", T, A)
    np.testing.assert_allclose(mf.third_derivative_contraction(loss_fn, theta, A), ref, rtol=1e-12, atol=1e-12)
    s = jnp.array([0.3, 1.0, 2.0, 0.5])
    np.testing.assert_allclose(
        mf.third_derivative_contraction_diag(loss_fn, theta, s), jnp.einsum("iik,i->k", T, s), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(mf.grad_trace_hessian(loss_fn, theta), jnp.einsum("iik->k", T), rtol=1e-12, atol=1e-12)


def test_lyapunov_inverse_solves_equation_on_range():
    loss_fn, x0, rank = CASES["4d_rank2"]
    z = point_of("4d_rank2")
    H = mf.hessian(loss_fn, z)
    P_perp = jnp.eye(4) - mf.tangent_projector(H)
    A = np.random.default_rng(2).standard_normal((4, 4))
    M = P_perp @ jnp.asarray(A @ A.T) @ P_perp
    X = mf.lyapunov_inverse(H, M)
    np.testing.assert_allclose(H @ X + X @ H, M, atol=1e-12)
    np.testing.assert_allclose(P_perp @ X @ P_perp, X, atol=1e-12)
    # label noise: 𝓛_H⁻¹(cH) = (c/2)P_⊥
    np.testing.assert_allclose(mf.lyapunov_inverse(H, 0.7 * H), 0.35 * P_perp, atol=1e-12)


def test_oblique_projector_properties_and_autodiff():
    """∂Φ_S = I − SN(NᵀSN)⁺Nᵀ: a projector onto ker H with ∂Φ_S S H = 0, ∂Φ_S S symmetric, and the
    Jacobian of the preconditioned flow's limit Φ_S."""
    loss_fn, x0, rank = CASES["4d_rank2"]
    z = point_of("4d_rank2")
    H = mf.hessian(loss_fn, z)
    s = jnp.array([0.5, 2.0, 1.3, 0.8])
    N = mf.normal_basis(H)
    Q = mf.oblique_projector(N, s)
    np.testing.assert_allclose(Q @ Q, Q, atol=1e-12)
    np.testing.assert_allclose(Q @ (s[:, None] * H), 0.0, atol=1e-12)
    np.testing.assert_allclose(H @ Q, 0.0, atol=1e-12)
    QS = Q * s[None, :]
    np.testing.assert_allclose(QS, QS.T, atol=1e-12)
    assert float(jnp.max(jnp.abs(Q - mf.tangent_projector(H)))) > 1e-2  # genuinely oblique
    # same projector from the H-free form with the full-column-rank basis N = eigenvectors
    lam, V = jnp.linalg.eigh(H)
    np.testing.assert_allclose(mf.oblique_projector(V[:, -rank:], jnp.diag(s)), Q, atol=1e-12)
    np.testing.assert_allclose(jax.jit(jax.jacfwd(projection(loss_fn, s)))(z), Q, atol=1e-9)


def diagonal_net_on_gamma(seed: int, n: int = 3, d: int = 4):
    """(rng, X, θ ∈ Γ, problem): a diagonal net whose labels are fitted at θ."""
    rng = np.random.default_rng(seed)
    X = jnp.asarray(rng.standard_normal((n, d)))
    net = models.DiagonalNet(d)
    theta = jnp.asarray(rng.uniform(0.5, 1.5, 2 * d))
    return rng, X, theta, models.SquaredLossProblem(net, X, X @ net.effective_weights(theta))


def test_tangent_projector_from_jacobian_and_retraction():
    n, d = 3, 4
    rng, X, theta, prob = diagonal_net_on_gamma(3, n, d)
    J = prob.jacobian(theta)
    P_J = mf.tangent_projector_from_jacobian(J)
    P_H = mf.tangent_projector(mf.hessian(prob.loss, theta))
    np.testing.assert_allclose(P_J, P_H, atol=1e-10)
    g = jnp.asarray(rng.standard_normal(2 * d))
    np.testing.assert_allclose(mf.project_tangent_with_jacobian(J, g), P_J @ g, atol=1e-12)
    # a normal displacement of size δ: distance ≈ δ, retraction lands on Γ
    normal = J.T @ jnp.asarray(rng.standard_normal(n))
    delta = 1e-4
    off = theta + delta * normal / jnp.linalg.norm(normal)
    assert abs(float(mf.distance_to_manifold(prob, off)) - delta) < 1e-7
    for target in (prob, prob.residuals):
        back = mf.retract_to_manifold(target, off)
        assert float(jnp.max(jnp.abs(prob.residuals(back)))) < 1e-13
        assert float(jnp.linalg.norm(back - theta)) < 1e-7
    back = mf.newton_retract(prob.loss, off, rank=n)
    assert float(jnp.max(jnp.abs(prob.residuals(back)))) < 1e-13
    # singular Γ (a dead pair u_i = v_i = 0 reduces rank J): pinv, no error, finite projector
    theta_sing = theta.at[0].set(0.0).at[d].set(0.0)
    X1 = X.at[:, 1:].set(0.0)
    P_sing = mf.tangent_projector_from_jacobian(net_jac(X1, theta_sing))
    assert bool(jnp.all(jnp.isfinite(P_sing)))
    np.testing.assert_allclose(P_sing @ P_sing, P_sing, atol=1e-12)


def net_jac(X, theta):
    d = X.shape[1]
    u, v = theta[:d], theta[d:]
    return jnp.concatenate([2 * X * u, -2 * X * v], axis=1)


def test_retraction_variants_reach_their_projections():
    """retract_to_manifold's variants against Φ and Φ_S by integrated gradient flow: the oblique step
    (metric S) agrees with Φ_S, the damped and plain steps with Φ, each to O(δ²) from a point δ off Γ,
    while Φ_S and Φ differ at O(δ) (so swapping S for S⁻¹, or dropping it, would fail)."""
    n, d = 3, 4
    rng, _, theta, prob = diagonal_net_on_gamma(5, n, d)
    S = jnp.asarray(rng.uniform(0.3, 3.0, 2 * d))
    normal = prob.jacobian(theta).T @ jnp.asarray(rng.standard_normal(n))
    for delta in (1e-2, 5e-3):
        off = theta + delta * normal / jnp.linalg.norm(normal)
        phi, phi_S = projection(prob.loss)(off), projection(prob.loss, S)(off)
        assert float(jnp.linalg.norm(phi_S - phi)) > 0.4 * delta  # genuinely oblique (measured 0.82δ)
        for kw, target in (({}, phi), ({"damped": True}, phi), ({"metric": S}, phi_S), ({"metric": jnp.ones(2 * d)}, phi)):
            back = mf.retract_to_manifold(prob, off, **kw)
            assert float(jnp.max(jnp.abs(prob.residuals(back)))) < 1e-12, kw
            assert float(jnp.linalg.norm(back - target)) < 3 * delta**2, (kw, delta)  # measured 0.18–0.62 δ²
    with pytest.raises(ValueError, match="metric or damped"):
        mf.retract_to_manifold(prob, theta, metric=S, damped=True)
