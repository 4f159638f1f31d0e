"""Claim 16: Shampoo under label noise has no explicit regularizer: its slow drift is not a
(preconditioned) gradient of any potential on Γ, because the 1-form it defines has non-zero curl.

Source: Li, Wen, Lyu (NeurIPS 2025, arXiv 2511.02773) §5 (Shampoo: "no explicit regularizer"); the
construction and the numbers are in docs/theory.md#shampoo-has-no-potential, on top of the corrected flow
of docs/theory.md#43-corrected-adaptive-slow-sde and docs/theory.md#44-adam-under-label-noise.

The method (an AGM of docs/theory.md#41-agm-class-and-scaling, no bias correction, 1 − β₂ = c₂η²), one
pair of second moments per weight matrix W ∈ R^{p×q} with gradient block G = ∂L/∂W:
m ← β₁m + (1−β₁)g, V_L ← β₂V_L + (1−β₂)GGᵀ, V_R ← β₂V_R + (1−β₂)GᵀG, ΔW = −η V_L^{−½} M V_R^{−½} (ε = 0).
**Kronecker order.** The lab flattens W row-major (`models.DeepLinearNet`), θ = vec_r(W), and
vec_r(AMB) = (A ⊗ Bᵀ) vec_r(M); so on θ the preconditioner is S_W = V_L^{−½} ⊗ V_R^{−½}. (With the
column-major vec of the brief's formula it is (V_R ⊗ V_L)^{−½} = V_R^{−½} ⊗ V_L^{−½}: the same map.) For
several matrices S = blockdiag_W(S_W): a full, non-diagonal D×D preconditioner. `POWER` = ½ is the
exponent per side used here; Gupta et al.'s original Shampoo uses ¼ (row "no potential" checks both).
The update, V*, S and the slow velocity come from the lab's optimizer family `sde.families.Shampoo`
(Adam's, the control, from `sde.families.Adam`); the 1-form, its curl and its circulation are written here.

**Slow flow.** The lab's construction (freeze S, x = S^{½}x′, SGD in x′; docs/theory.md#43-corrected-adaptive-slow-sde)
needs only S symmetric positive definite, so with Σ = cH on Γ:
    dζ/dt = −(c/4) ∂Φ_S S ∇³L[S],  ∂Φ_S S = S − SN(NᵀSN)⁻¹NᵀS (N = Jᵀ),  ∇³L[S] = ∇_ζ⟨S, H(ζ)⟩ (S frozen),
    dV/dt = c₂(V*(ζ) − V),  V_L* = E[GGᵀ] = c·tr_col H_WW,  V_R* = E[GᵀG] = c·tr_row H_WW
(partial traces of the W-block of H = JᵀJ/n over the column / row index). With ε = 0, S ∝ c^{−2·POWER},
so the drift scales as c^{1−4·POWER}: ∝ 1/c at POWER = ½, independent of c at ¼ (like Adam).

**No potential.** ∂Φ_S S is symmetric with kernel range N and is invertible on TΓ, so
drift = −k ∂Φ_S S∇R (k constant) ⇔ the tangential part of ∇³L[S] equals k∇R on Γ ⇔ the 1-form
ω = ⟨F, dζ⟩|_Γ, F := −(4/c) S⁻¹·drift (whose tangential part is that of ∇³L[S(ζ)]), is exact. A closed
1-form has dω = 0 and zero circulation around every small loop, so a non-zero curl rules the potential out;
ω ∧ dω ≠ 0 rules out even drift = −f(ζ)∂Φ_S S∇R with a scalar function f (Frobenius).

Checks (float64, 2-layer factorization f = ⟨A_k, W₂W₁⟩, W₁, W₂ ∈ R^{2×2}, D = 8, n = 3 Gaussian A_k,
dim Γ = 5, at a point ζ₀ of Γ; c = δ²/n):
* row "construction": the family's velocity (`jacobian_slow_velocity`, Gauss–Newton ∇³L[S] in one reverse
  pass, and `slow_velocity`, the Hessian route) against ½ S^{½}∂²Φ′[S^{½}(cH)S^{½}] in x′ = S^{−½}x
  (`sde.manifold.projection_second_derivative`); the curl's own drift (`drift`, below) against the
  family's; Shampoo's full-matrix code with 1×1 blocks at exponent ¼ per side (S = (c diag H)^{−½}, Adam's)
  and `drift` with Adam's S against `sde.slow.adam_label_noise_velocity`; the family's V* (c·partial traces
  of H) against E[GGᵀ], E[GᵀG] written from the noise; the Kronecker order against the matrix form, and
  the family's discrete update (matrix form) against −S(V′)g with the flow's S; tolerance 1e-10;
* row "no potential" (Jacobian): the curl 2-form dω(u, w) = wᵀDF u − uᵀDF w on TΓ (DF = jax.jacfwd of F,
  S(ζ) = S(V*(ζ)) differentiated too; the family's velocities freeze S under differentiation, so F is
  built from `drift`, the same Gauss–Newton formula with S an argument). ‖antisymmetric‖/‖symmetric part‖ of EᵀDF E (E an orthonormal
  basis of TΓ) is float64 round-off for Adam (an exact gradient, tr Diag(H)^½; measured 4e-16, tolerance
  1e-10) and must exceed `MIN_CURL` = 0.01 for Shampoo (measured 0.175 at exponent ½, 0.028 at ¼);
  ‖ω ∧ dω‖ likewise (0.20, 0.045; Adam 5e-16);
* row "circulation": ∮ω around the loops γ(φ) = retract(ζ₀ + r(cos φ e₁ + sin φ e₂)) on Γ (the plane of
  largest curl, 64-point trapezoid, γ′ by jax.jvp through the Gauss–Newton retraction, F from the
  family's `jacobian_slow_velocity`), r = 0.2, 0.1,
  0.05: for Shampoo ∮ω/(πr²) → dω(e₁, e₂) (measured 1.92423, 1.93211, 1.93387 → 1.93444, error O(r²);
  tolerance 1e-2 at r = 0.05) and |∮ω| ∝ r² (log-log slope 1.996, must be 2 ± 0.1); for Adam
  ∮ω / ∮|⟨F, dγ⟩| is round-off (≤ 4e-16, must be < 1e-10);
* row "discrete": the family's EMA Shampoo (`transform`, β₁ = 0.9, 1 − β₂ = c₂η², ε = 0, no bias
  correction, m₀ = 0, V₀ = V*(ζ₀) set by `with_second_moment`) on the lab's engine
  (`sde.discrete.simulate_runs`), full-batch Gaussian label noise (`LabelNoise(δ, "gaussian")`, δ = 1,
  c = ⅓), from ζ₀ for slow time T = 0.08 at η = 0.02, 0.01, 0.005 (200 to 3200 steps), 400 (small) or 2000
  (full) runs in antithetic pairs (every key run with the noise and with its mirror image
  `AntitheticNoise`), against the coupled (ζ, V) flow (RK4 of the family's `jacobian_slow_velocity` and
  `jacobian_state_velocity`): the relative error of the mean displacement is O(η)
  (docs/theory.md#96-test-tolerances; measured 0.50, 0.26, 0.13 with 2000 runs, rel.err/η ≈ 25.5, slope
  0.99; 0.53, 0.25, 0.13 and slope 1.02 with 400). The slope must lie within 1 ± 0.4 and each error below
  `ERR_PER_ETA`·η + 3 s.e. A flow doubled, one with diag S in place of S, or one with exponent ¼ misses by
  0.47, 0.81, 1.04 at η = 0.005 (bound 0.2) and fails.

Runtime at size "small": ≈ 38 s of CPU, most of it compilation (the engine compiles one program per
step count and noise, 6 in all; the hand-written loop it replaced compiled one, ≈ 25 s in all).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab import models
from implicit_bias_lab.paper_checks.catalogue import CheckResult
from implicit_bias_lab.paper_checks.claims._util import check_size, rk4
from implicit_bias_lab.sde import manifold as mf
from implicit_bias_lab.sde.discrete import RunStatus, antithetic_pair_se, simulate_antithetic
from implicit_bias_lab.sde.families import Adam, Shampoo, matrix_shapes
from implicit_bias_lab.sde.noise import LabelNoise

CLAIM = "Shampoo under label noise has no explicit regularizer: its slow drift's 1-form on Γ has non-zero curl"
SOURCE = "Li–Wen–Lyu (NeurIPS 2025) §5 (Shampoo); docs/theory.md s4.5"

DIMS = (2, 2, 2)  # W₂W₁ with W₁, W₂ ∈ R^{2×2}: θ = (vec_r W₁, vec_r W₂), D = 8
N_SAMPLES = 3
DELTA = 1.0  # Gaussian label noise on every label every step: c = δ²/n
NOISE = LabelNoise(DELTA, "gaussian")
POWER = 0.5  # S_W = V_L^{−POWER} ⊗ V_R^{−POWER}
B1 = 0.9
C2 = 10.0  # 1 − β₂ = c₂η²
T = 0.08
RADII = (0.2, 0.1, 0.05)
LOOP_POINTS = 64
POWERS = (POWER, 0.25)  # exponents per side checked for curl: the brief's ½ and Gupta et al.'s ¼
#: ‖antisym‖/‖sym‖ of the curl on TΓ that counts as "non-zero" (measured 0.175 at ½, 0.028 at ¼; Adam 4e-16)
MIN_CURL = 0.01
#: rel.err/η of the mean displacement, measured 25.3–25.6 at η = 0.02, 0.01, 0.005
ERR_PER_ETA = 35.0
ADAM = Adam()  # the control: a coordinate-wise S, whose flow has the potential tr Diag(H)^½


# ----------------------------------------------------------------------------- problem
@functools.cache
def matrix_factorization():
    """(problem, ζ₀): ⟨A_k, W₂W₁⟩ with n = 3 Gaussian A_k ∈ R^{2×2}, labels from a fixed θ, ζ₀ ∈ Γ."""
    net = models.DeepLinearNet(DIMS)
    X = jax.random.normal(jax.random.PRNGKey(3), (N_SAMPLES, DIMS[0] * DIMS[-1]), jnp.float64)
    theta_ref = net.initial_params(jax.random.PRNGKey(4), 1.0)
    problem = models.SquaredLossProblem(net, X, X @ net.product(theta_ref).reshape(-1))
    z0 = mf.retract_to_manifold(problem, net.initial_params(jax.random.PRNGKey(6), 1.0))
    return problem, z0


def shampoo(problem, power=POWER) -> Shampoo:
    """The Shampoo family (`sde.families.Shampoo`) on the layers of `problem`'s net at exponent `power`
    per side (a traced power is fine: the family only checks concrete numbers)."""
    return Shampoo(shapes=matrix_shapes(problem.model), power=power)


def gradient_moments(problem, theta, c):
    """(E[GGᵀ], E[GᵀG]) per layer written from the noise itself (the reference for the family's V*):
    under full-batch label noise G = −Σ_k ε_k G_k/n with Var ε_k = δ² = cn and G_k = ∂f_k/∂W, so
    E[GGᵀ] = (c/n)Σ_k G_kG_kᵀ."""
    J = problem.jacobian(theta)
    n = J.shape[0]
    out, s = [], 0
    for p, q in problem.model.shapes:
        G = J[:, s : s + p * q].reshape(n, p, q)
        out.append((c / n * jnp.einsum("kia,kja->ij", G, G), c / n * jnp.einsum("kai,kaj->ij", G, G)))
        s += p * q
    return tuple(out)


# ----------------------------------------------------------------------------- the 1-form
def preconditioner_at(family, problem, theta, c):
    """S(V*(θ)) as a D×D matrix: the family's preconditioner at its Gauss–Newton fixed point, a
    differentiable function of θ."""
    S = family.preconditioner(family.jacobian_fixed_point(problem.residuals, theta, c))
    return jnp.diag(S) if jnp.ndim(S) == 1 else S


def drift(problem, theta, S, c):
    """dζ/dt = −(c/4)∂Φ_S S∇³L[S], ∂Φ_S S = S − SJᵀ(JSJᵀ)⁺JS (docs/theory.md#42-preconditioned-projection),
    ∇³L[S] = ∇_θ⟨S, JᵀJ/n⟩: the Gauss–Newton route of `family.jacobian_slow_velocity` with S an argument
    that an outer derivative sees. The families freeze S (`jax.lax.stop_gradient`; right for a flow, where
    S is a state), the curl needs dS(V*(ζ))/dζ; row "construction" checks this against the families' own
    velocities."""
    jac = problem.jacobian
    J = jac(theta)
    u = S @ jax.grad(lambda th: jnp.sum((jac(th) @ S) * jac(th)) / problem.num_samples)(theta)
    return -0.25 * c * (u - S @ (J.T @ mf.gram_pinv_solve(J @ S @ J.T, J @ u)))


def force(family, problem, theta, c):
    """F = −(4/c)S⁻¹·drift at S = S(V*(θ)) (differentiable in θ): its tangential part on Γ is that of ∇³L[S]."""
    S = preconditioner_at(family, problem, theta, c)
    return -4.0 / c * jnp.linalg.solve(S, drift(problem, theta, S, c))


def family_force(family, problem, theta, c):
    """F = −(4/c)S⁻¹·(the family's `jacobian_slow_velocity`) at v = V*(θ): the same field, for values only
    (no derivative through S)."""
    S = preconditioner_at(family, problem, theta, c)
    return -4.0 / c * jnp.linalg.solve(S, family.jacobian_slow_velocity(problem.residuals, theta, c))


# ----------------------------------------------------------------------------- row 1: construction
@jax.jit
def _construction_jit(problem, z0, c):
    rank = problem.num_samples
    family = shampoo(problem)
    V = family.label_noise_fixed_point(problem.loss, z0, c)  # 𝒱(cH): partial traces of the Hessian
    S = family.preconditioner(V)
    vel = family.jacobian_slow_velocity(problem.residuals, z0, c)  # Gauss–Newton route, v = V*
    vel_h = family.slow_velocity(problem.loss, z0, c, rank=rank)  # Hessian route, v = V*
    # change of variables x = Rx′, R = S^{½}: drift = ½∂²Φ_S[S(cH)S] = ½R∂²Φ′[R(cH)R]
    lam, U = jnp.linalg.eigh(S)
    R = (U * jnp.sqrt(lam)) @ U.T
    Rinv = (U / jnp.sqrt(lam)) @ U.T
    H = mf.hessian(problem.loss, z0)
    ref = 0.5 * R @ mf.projection_second_derivative(lambda xp: problem.loss(R @ xp), Rinv @ z0, c * R @ H @ R, rank=rank)
    rel = lambda a, b: jnp.linalg.norm(a - b) / jnp.linalg.norm(b)
    e_cov = jnp.maximum(rel(vel, ref), rel(vel_h, ref))
    # the curl's differentiable drift (written here) against the family's velocity
    e_drift = rel(drift(problem, z0, preconditioner_at(family, problem, z0, c), c), vel)
    normal = jnp.linalg.norm(problem.jacobian(z0) @ vel) / jnp.linalg.norm(vel)
    # Adam's S through Shampoo's full-matrix code: 1×1 matrices at exponent ¼ per side give S_jj = (c H_jj)^{−½},
    # against the Adam family (`sde.slow.adam_label_noise_velocity`); the curl's drift with Adam's S likewise
    as_adam = Shampoo(shapes=((1, 1),) * z0.size, power=0.25)
    va = ADAM.slow_velocity(problem.loss, z0, c, ADAM.label_noise_fixed_point(problem.loss, z0, c), rank=rank)
    e_adam = jnp.maximum(rel(as_adam.jacobian_slow_velocity(problem.residuals, z0, c), va),
                         rel(drift(problem, z0, preconditioner_at(ADAM, problem, z0, c), c), va))
    # V* = c·partial traces of H (the family, Hessian route) against E[GGᵀ], E[GᵀG] of the noise
    e_fix = 0.0
    for (VL, VR), (GL, GR) in zip(V, gradient_moments(problem, z0, c)):
        e_fix = jnp.maximum(e_fix, jnp.maximum(rel(VL, GL), rel(VR, GR)))
    # Kronecker order: vec_r(A M B) = (A ⊗ Bᵀ) vec_r(M); vec_c(A M B) = (Bᵀ ⊗ A) vec_c(M); and the family's
    # discrete update (matrix form V_L^{−½} M V_R^{−½}, here β₁ = 0, η = 1) is −S(V′)g with the flow's S
    A, B, M = (jax.random.normal(jax.random.PRNGKey(k), (2, 2), jnp.float64) for k in (0, 1, 2))
    B = B @ B.T
    g = jax.random.normal(jax.random.PRNGKey(3), z0.shape, jnp.float64)
    tx = family.transform(1.0, b1=0.0, b2=0.5, eps=0.0)
    update, state = tx.update(g, family.with_second_moment(tx.init(z0), V), z0)
    e_kron = jnp.maximum(
        jnp.maximum(jnp.linalg.norm(jnp.kron(A, B.T) @ M.reshape(-1) - (A @ M @ B).reshape(-1)),
                    jnp.linalg.norm(jnp.kron(B.T, A) @ M.T.reshape(-1) - (A @ M @ B).T.reshape(-1))),
        rel(update, -family.preconditioner(state.v) @ g),
    )
    return e_cov, e_drift, normal, e_adam, e_fix, e_kron, jnp.linalg.norm(vel)


def _construction(problem, z0, c):
    return tuple(float(x) for x in _construction_jit(problem, z0, jnp.asarray(c)))


# ----------------------------------------------------------------------------- rows 2-3: curl and circulation
def tangent_basis(problem, theta):
    """An orthonormal basis E (D × dim Γ) of T_θΓ = ker J."""
    J = problem.jacobian(theta)
    return jnp.linalg.svd(J)[2][J.shape[0] :].T


def _curl_of(field, problem, z0):
    """(‖antisym‖/‖sym‖ of EᵀDF E, ‖ω∧dω‖/(‖ω‖‖sym‖), dω(e₁, e₂), e₁, e₂) for the force `field`: the curl
    2-form of ω = ⟨F, dζ⟩|_Γ on TΓ; (e₁, e₂) spans the plane of largest |dω| (top singular pair of the
    skew matrix)."""
    E = tangent_basis(problem, z0)
    DF = jax.jacfwd(field)(z0)
    K = E.T @ DF @ E  # K_ij = e_iᵀ DF e_j
    W = K.T - K  # W_ij = dω(e_i, e_j) = e_jᵀDF e_i − e_iᵀDF e_j
    sym = jnp.linalg.norm(K + K.T)
    w = E.T @ field(z0)  # ω(e_i)
    # (ω∧dω)(e_i, e_j, e_k) = ω_i W_jk + ω_j W_ki + ω_k W_ij
    wedge = w[:, None, None] * W[None, :, :] + w[None, :, None] * W.T[:, None, :] + w[None, None, :] * W[:, :, None]
    U, s, Vt = jnp.linalg.svd(W)
    # W v₁ = s₁u₁ ⇒ dω(E u₁, E v₁) = u₁ᵀW v₁ = s₁
    return jnp.linalg.norm(W) / sym, jnp.linalg.norm(wedge) / (jnp.linalg.norm(w) * sym), s[0], E @ U[:, 0], E @ Vt[0]


@jax.jit
def _curls(problem, z0, c, powers):
    """`_curl_of` for Shampoo at each exponent in `powers` (vmapped) and for Adam (the control)."""
    sh = jax.vmap(lambda p: _curl_of(lambda th: force(shampoo(problem, p), problem, th, c), problem, z0))(powers)
    return sh, _curl_of(lambda th: force(ADAM, problem, th, c), problem, z0)


@jax.jit
def _circulations(problem, z0, c, e1, e2, radii):
    """(∮ω, ∮|⟨F, γ′⟩|dφ, max L(γ)) around γ(φ) = retract(ζ₀ + r(cos φ e₁ + sin φ e₂)) ⊂ Γ for every r, for
    Shampoo and for Adam (periodic trapezoid, γ′ by jax.jvp through the retraction)."""
    loops = [functools.partial(_circulation, functools.partial(family_force, family, problem, c=c), problem, z0, e1, e2)
             for family in (shampoo(problem), ADAM)]
    return tuple(jax.vmap(loop)(radii) for loop in loops)


def _circulation(field, problem, z0, e1, e2, r):
    phi = 2 * jnp.pi * jnp.arange(LOOP_POINTS) / LOOP_POINTS
    gamma = lambda p: mf.retract_to_manifold(problem, z0 + r * (jnp.cos(p) * e1 + jnp.sin(p) * e2), num_iters=8)

    def one(p):
        g, dg = jax.jvp(gamma, (p,), (jnp.ones_like(p),))
        return field(g) @ dg, problem.loss(g)

    integrand, losses = jax.vmap(one)(phi)
    h = 2 * jnp.pi / LOOP_POINTS
    return h * jnp.sum(integrand), h * jnp.sum(jnp.abs(integrand)), jnp.max(losses)


# ----------------------------------------------------------------------------- row 4: discrete Shampoo
def _flow(problem, z0, c):
    """The coupled (ζ, V) slow flow from (ζ₀, V*(ζ₀)) to T (RK4, 200 steps): the family's
    `jacobian_slow_velocity` and `jacobian_state_velocity`, dV/dt = c₂(V*(ζ) − V)."""
    family = shampoo(problem)

    def field(y):
        z, V = y
        return (family.jacobian_slow_velocity(problem.residuals, z, c, V),
                family.jacobian_state_velocity(problem.residuals, z, V, c, C2))

    return rk4(field, (z0, family.jacobian_fixed_point(problem.residuals, z0, c)), T, 200)[0]


def _simulate(problem, z0, eta, steps, keys, c):
    """Discrete EMA Shampoo (`family.transform`, β₁ = B1, 1 − β₂ = c₂η², ε = 0, no bias correction) from ζ₀
    with m₀ = 0, V₀ = V*(ζ₀), on the engine (`simulate_antithetic`), every key run twice: with `NOISE` and with
    its mirror image (`AntitheticNoise`, ε → −ε). End points [θ₊; θ₋] and whether every run stayed finite."""
    family = shampoo(problem)
    tx = family.transform(eta, b1=B1, b2=1.0 - C2 * eta**2, eps=0.0)
    state = family.with_second_moment(tx.init(z0), family.jacobian_fixed_point(problem.residuals, z0, c))
    sim = simulate_antithetic(problem, NOISE, tx, z0, keys, num_steps=steps, opt_state0=state)
    ok = bool(np.all(np.asarray(sim.status) == RunStatus.OK))
    return sim.theta, ok


def _discrete(etas, runs):
    problem, z0 = matrix_factorization()
    c = NOISE.label_noise_constant(problem)
    delta = np.asarray(_flow(problem, z0, c) - z0)
    scale = float(np.linalg.norm(delta))
    keys = jax.random.split(jax.random.PRNGKey(11), runs // 2)
    rows = []
    for eta in etas:
        steps = round(T / eta**2)
        theta, ok = _simulate(problem, z0, eta, steps, keys, c)
        disp = np.asarray(theta - z0)
        mean = disp.mean(axis=0)
        rows.append({
            "eta": eta, "steps": steps, "ok": ok and bool(np.all(np.isfinite(disp))),
            "err": float(np.linalg.norm(mean - delta) / scale), "se": antithetic_pair_se(disp) / scale,
            "ratio": float(mean @ delta / scale**2),
        })
    slope = float(np.polyfit(np.log([r["eta"] for r in rows]), np.log([r["err"] for r in rows]), 1)[0])
    return rows, slope, scale


def check(size: str) -> list[CheckResult]:
    full = check_size(size)
    problem, z0 = matrix_factorization()
    c = NOISE.label_noise_constant(problem)
    e_cov, e_drift, normal, e_adam, e_fix, e_kron, speed = _construction(problem, z0, c)
    rows = [
        CheckResult(
            "Shampoo slow flow with a full S = blockdiag(V_L*^{−½} ⊗ V_R*^{−½}) (row-major vec): "
            "−(c/4)∂Φ_S S∇³L[S] = ½∂²Φ_S[S(cH)S] (x = S^{½}x′), tangent to Γ",
            SOURCE + "; docs/theory.md s4.3",
            "vec_r(AMB) = (A⊗Bᵀ)vec_r(M), vec_c(AMB) = (Bᵀ⊗A)vec_c(M), discrete update = −S(V′)g: max error "
            + f"{e_kron:.1e}",
            max(e_cov, e_drift, normal, e_adam, e_fix, e_kron),
            1e-10,
            note=f"2-layer factorization ⟨A_k, W₂W₁⟩ (2×2 layers, n = 3, dim Γ = 5), c = {c:.4g}, |ζ̇| = {speed:.3f}: "
            f"sde.families.Shampoo velocity (Jacobian and Hessian routes) vs change of variables {e_cov:.1e}, normal part "
            f"|Jζ̇|/|ζ̇| {normal:.1e}; the curl's differentiable drift vs the family's {e_drift:.1e}; Shampoo's code with "
            f"1×1 blocks at exponent ¼ (Adam's S) and the curl's drift with Adam's S vs sde.slow.adam_label_noise_velocity "
            f"{e_adam:.1e}; V* (c·partial traces of H) vs E[GGᵀ], E[GᵀG] of the noise {e_fix:.1e}",
        )
    ]
    (rel_sh, wedge_sh, curl_sh, e1s, e2s), (rel_ad, wedge_ad, curl_ad, _, _) = _curls(
        problem, z0, jnp.asarray(c), jnp.asarray(POWERS)
    )
    rel_sh, wedge_sh, curl_sh = (np.asarray(a) for a in (rel_sh, wedge_sh, curl_sh))
    nonzero = bool(np.all(rel_sh > MIN_CURL) and np.all(wedge_sh > MIN_CURL))
    rows.append(
        CheckResult(
            "no potential: the 1-form ω = ⟨F, dζ⟩|_Γ, F = −(4/c)S⁻¹ζ̇, has dω ≠ 0 (and ω∧dω ≠ 0) for Shampoo; "
            "dω = 0 for Adam's field (potential tr Diag(H)^½)",
            SOURCE,
            "Shampoo ‖dω‖/‖sym‖ on TΓ: " + ", ".join(f"exponent {p:g}: {r:.3f}" for p, r in zip(POWERS, rel_sh))
            + f" (must be > {MIN_CURL:g})",
            float(max(rel_ad, wedge_ad)) if nonzero else float("inf"),
            1e-10,
            note="Jacobian DF by jax.jacfwd through S(V*(ζ)); skew part of EᵀDF E relative to its symmetric part: "
            + ", ".join(f"Shampoo ^{p:g} {r:.3g}" for p, r in zip(POWERS, rel_sh))
            + f", Adam {float(rel_ad):.1e}; ‖ω∧dω‖/(‖ω‖‖sym‖): "
            + ", ".join(f"Shampoo ^{p:g} {w:.3g}" for p, w in zip(POWERS, wedge_sh))
            + f", Adam {float(wedge_ad):.1e}; largest dω(e₁, e₂): "
            + ", ".join(f"Shampoo ^{p:g} {k:.4f}" for p, k in zip(POWERS, curl_sh))
            + f", Adam {float(curl_ad):.1e}",
        )
    )
    e1, e2, curl = e1s[0], e2s[0], float(curl_sh[0])
    (circ_sh, _, loss_sh), (circ_ad, abs_ad, loss_ad) = _circulations(problem, z0, jnp.asarray(c), e1, e2, jnp.asarray(RADII))
    radii = np.asarray(RADII)
    circ_sh, circ_ad, abs_ad = np.asarray(circ_sh), np.asarray(circ_ad), np.asarray(abs_ad)
    per_area = circ_sh / (np.pi * radii**2)
    area_slope = float(np.polyfit(np.log(radii), np.log(np.abs(circ_sh)), 1)[0])
    adam_rel = float(np.max(np.abs(circ_ad) / abs_ad))
    on_gamma = float(max(np.max(loss_sh), np.max(loss_ad)))
    good = abs(area_slope - 2) < 0.1 and adam_rel < 1e-10 and on_gamma < 1e-20
    rows.append(
        CheckResult(
            "circulation of ω around small loops on Γ: Shampoo ∮ω ≈ πr²·dω(e₁, e₂) ≠ 0 (∝ area); Adam ∮ω ≈ 0",
            SOURCE,
            f"Shampoo log-log slope of |∮ω| vs r: {area_slope:.3f} (must be 2 ± 0.1); Adam max |∮ω|/∮|ω| = {adam_rel:.1e} "
            "(must be < 1e-10)",
            abs(per_area[-1] / curl - 1) if good else float("inf"),
            1e-2,
            note=f"plane of largest curl of Shampoo ^{POWER:g}, {LOOP_POINTS}-point trapezoid, loops retracted onto Γ "
            f"(max L {on_gamma:.0e}); ∮ω/(πr²) at r = "
            + ", ".join(f"{r:g}: {a:.5f}" for r, a in zip(RADII, per_area))
            + f" vs Jacobian dω(e₁, e₂) = {curl:.5f}; ∮ω = "
            + ", ".join(f"{x:.4g}" for x in circ_sh)
            + "; Adam ∮ω = "
            + ", ".join(f"{x:.1e}" for x in circ_ad),
        )
    )
    etas, runs = ((0.02, 0.01, 0.005), 2000) if full else ((0.02, 0.01, 0.005), 400)
    sim, slope, scale = _discrete(etas, runs)
    within = all(r["err"] <= ERR_PER_ETA * r["eta"] + 3 * r["se"] for r in sim)
    rows.append(
        CheckResult(
            f"discrete EMA Shampoo (β₁={B1}, 1−β₂={C2:g}η², ε=0, label-noise GD, T={T}) follows the (ζ, V) slow flow "
            "with error ∝ η",
            SOURCE + "; docs/theory.md s9.6",
            f"log-log slope of rel.err vs η: {slope:.2f}",
            abs(slope - 1.0) if within else float("inf"),
            0.4,
            all(r["ok"] for r in sim),
            note=f"{runs} runs (antithetic pairs), |Δζ_flow| = {scale:.3f}; rel.err of the mean displacement "
            "(s.e., ⟨Δsim,Δflow⟩/‖Δflow‖²) at η = "
            + ", ".join(f"{r['eta']} ({r['steps']} steps): {r['err']:.3f} ({r['se']:.3f}, {r['ratio']:.3f})" for r in sim)
            + f"; bound {ERR_PER_ETA:g}η + 3 s.e.",
        )
    )
    return rows
