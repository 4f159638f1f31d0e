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
* row "construction": the velocity written here (Gauss–Newton ∇³L[S], one reverse pass) against
  ½ S^{½}∂²Φ′[S^{½}(cH)S^{½}] in x′ = S^{−½}x (`sde.manifold.projection_second_derivative`, the Hessian
  route); the same code with Adam's diagonal S = (c diag H)^{−½} against `sde.slow.adam_label_noise_velocity`;
  E[GGᵀ], E[GᵀG] under the noise against c·(partial traces of H); the Kronecker order against the
  matrix form; tolerance 1e-10;
* row "no potential" (Jacobian): the curl 2-form dω(u, w) = wᵀDF u − uᵀDF w on TΓ (DF = jax.jacfwd of F,
  S(ζ) = S(V*(ζ)) differentiated too). ‖antisymmetric‖/‖symmetric part‖ of EᵀDF E (E an orthonormal
  basis of TΓ) is float64 round-off for Adam (an exact gradient, tr Diag(H)^½; measured 4e-16, tolerance
  1e-10) and must exceed `MIN_CURL` = 0.01 for Shampoo (measured 0.175 at exponent ½, 0.028 at ¼);
  ‖ω ∧ dω‖ likewise (0.20, 0.045; Adam 5e-16);
* row "circulation": ∮ω around the loops γ(φ) = retract(ζ₀ + r(cos φ e₁ + sin φ e₂)) on Γ (the plane of
  largest curl, 64-point trapezoid, γ′ by jax.jvp through the Gauss–Newton retraction), r = 0.2, 0.1,
  0.05: for Shampoo ∮ω/(πr²) → dω(e₁, e₂) (measured 1.92423, 1.93211, 1.93387 → 1.93444, error O(r²);
  tolerance 1e-2 at r = 0.05) and |∮ω| ∝ r² (log-log slope 1.996, must be 2 ± 0.1); for Adam
  ∮ω / ∮|⟨F, dγ⟩| is round-off (≤ 4e-16, must be < 1e-10);
* row "discrete": a minimal EMA Shampoo written here (`shampoo_update`, β₁ = 0.9, 1 − β₂ = c₂η², ε = 0, no
  bias correction, m₀ = 0, V₀ = V*(ζ₀)), full-batch Gaussian label noise (δ = 1, c = ⅓), from ζ₀ for slow
  time T = 0.08 at η = 0.02, 0.01, 0.005 (200 to 3200 steps), 400 (small) or 2000 (full) runs in antithetic
  pairs, against the coupled (ζ, V) flow (RK4): the relative error of the mean displacement is O(η)
  (docs/theory.md#96-test-tolerances; measured 0.50, 0.26, 0.13 with 2000 runs, rel.err/η ≈ 25.5, slope
  0.99). The slope must lie within 1 ± 0.4 and each error below `ERR_PER_ETA`·η + 3 s.e. A flow doubled,
  one with diag S in place of S, or one with exponent ¼ misses by 0.47, 0.81, 1.04 at η = 0.005 (bound 0.2)
  and fails.

Runtime at size "small": ≈ 21 s of CPU (most of it compilation).
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
from implicit_bias_lab.sde import slow

CLAIM = "Shampoo under label noise has no explicit regularizer: its slow drift's 1-form on Γ has non-zero curl"
SOURCE = "Li–Wen–Lyu (NeurIPS 2025) §5 (Shampoo); docs/theory.md s4.5"

DIMS = (2, 2, 2)  # W₂W₁ with W₁, W₂ ∈ R^{2×2}: θ = (vec_r W₁, vec_r W₂), D = 8
N_SAMPLES = 3
DELTA = 1.0  # Gaussian label noise on every label every step: c = δ²/n
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


def noise_c(problem) -> float:
    return DELTA**2 / problem.num_samples


def layer_blocks(net):
    """(start, p, q) of every weight matrix W ∈ R^{p×q} in θ (row-major)."""
    out, start = [], 0
    for p, q in net.shapes:
        out.append((start, p, q))
        start += p * q
    return out


# ----------------------------------------------------------------------------- Shampoo
def sym_power(V, power):
    """V^power for a symmetric positive definite V (eigh)."""
    lam, U = jnp.linalg.eigh(0.5 * (V + V.T))
    return (U * lam**power) @ U.T


def shampoo_second_moments(problem, theta, c):
    """V* = (E[GGᵀ], E[GᵀG]) per layer under label noise Σ = c·JᵀJ/n: G = Σ_k ε_k G_k/n with
    Var ε_k = δ² = cn, G_k = ∂f_k/∂W, so E[GGᵀ] = (c/n)Σ_k G_kG_kᵀ = c·tr_col H_WW."""
    J = problem.jacobian(theta)
    n = J.shape[0]
    out = []
    for s, p, q in layer_blocks(problem.model):
        G = J[:, s : s + p * q].reshape(n, p, q)
        out.append((c / n * jnp.einsum("kia,kja->ij", G, G), c / n * jnp.einsum("kai,kaj->ij", G, G)))
    return tuple(out)


def shampoo_preconditioner(Vs, power=POWER):
    """S = blockdiag_W(V_L^{−power} ⊗ V_R^{−power}) on θ = (vec_r W)_W (row-major vec)."""
    return jax.scipy.linalg.block_diag(*[jnp.kron(sym_power(VL, -power), sym_power(VR, -power)) for VL, VR in Vs])


def shampoo_update(theta, m, Vs, g, blocks, eta, b1, b2, power=POWER):
    """One EMA Shampoo step (ε = 0, no bias correction): m ← β₁m + (1−β₁)g; per W: V_L ← β₂V_L + (1−β₂)GGᵀ,
    V_R ← β₂V_R + (1−β₂)GᵀG, W ← W − η V_L^{−power} M V_R^{−power}."""
    m = b1 * m + (1 - b1) * g
    new_Vs, steps = [], []
    for (s, p, q), (VL, VR) in zip(blocks, Vs):
        G = g[s : s + p * q].reshape(p, q)
        VL = b2 * VL + (1 - b2) * G @ G.T
        VR = b2 * VR + (1 - b2) * G.T @ G
        M = m[s : s + p * q].reshape(p, q)
        steps.append((sym_power(VL, -power) @ M @ sym_power(VR, -power)).reshape(-1))
        new_Vs.append((VL, VR))
    return theta - eta * jnp.concatenate(steps), m, tuple(new_Vs)


def adam_preconditioner_matrix(problem, theta, c):
    """Adam's S = Diag((c diag H)^{−½}) as a D×D matrix (Gauss–Newton diag H; the control)."""
    J = problem.jacobian(theta)
    return jnp.diag((c * jnp.mean(J * J, axis=0)) ** -0.5)


# ----------------------------------------------------------------------------- slow flow
def third_derivative_full(problem, theta, S):
    """∇³L[S] = ∇_θ⟨S, H(θ)⟩ with S frozen, from H ≈ JᵀJ/n (exact on Γ up to a vector in range Jᵀ,
    which ∂Φ_S S removes). S is a closed-over constant of the inner gradient, so an outer derivative
    still sees S(ζ)."""
    jac = problem.jacobian
    return jax.grad(lambda th: jnp.sum((jac(th) @ S) * jac(th)) / problem.num_samples)(theta)


def velocity(problem, theta, S, c):
    """dζ/dt = −(c/4)∂Φ_S S∇³L[S], ∂Φ_S S = S − SJᵀ(JSJᵀ)⁺JS (docs/theory.md#42-preconditioned-projection)."""
    J = problem.jacobian(theta)
    u = S @ third_derivative_full(problem, theta, S)
    return -0.25 * c * (u - S @ (J.T @ mf.gram_pinv_solve(J @ S @ J.T, J @ u)))


def force(problem, theta, S, c):
    """F = −(4/c)S⁻¹·drift: its tangential part on Γ is that of ∇³L[S]."""
    return -4.0 / c * jnp.linalg.solve(S, velocity(problem, theta, S, c))


def shampoo_force(problem, theta, c, power=POWER):
    return force(problem, theta, shampoo_preconditioner(shampoo_second_moments(problem, theta, c), power), c)


def adam_force(problem, theta, c):
    return force(problem, theta, adam_preconditioner_matrix(problem, theta, c), c)


# ----------------------------------------------------------------------------- row 1: construction
@jax.jit
def _construction_jit(problem, z0, c):
    rank = problem.num_samples
    S = shampoo_preconditioner(shampoo_second_moments(problem, z0, c))
    vel = velocity(problem, z0, S, c)
    # change of variables x = Rx′, R = S^{½}: drift = ½∂²Φ_S[S(cH)S] = ½R∂²Φ′[R(cH)R]
    lam, U = jnp.linalg.eigh(S)
    R = (U * jnp.sqrt(lam)) @ U.T
    Rinv = (U / jnp.sqrt(lam)) @ U.T
    H = mf.hessian(problem.loss, z0)
    ref = 0.5 * R @ mf.projection_second_derivative(lambda xp: problem.loss(R @ xp), Rinv @ z0, c * R @ H @ R, rank=rank)
    e_cov = jnp.linalg.norm(vel - ref) / jnp.linalg.norm(ref)
    normal = jnp.linalg.norm(problem.jacobian(z0) @ vel) / jnp.linalg.norm(vel)
    # the same code with Adam's diagonal S against the lab's Adam velocity
    Sa = adam_preconditioner_matrix(problem, z0, c)
    va = velocity(problem, z0, Sa, c)
    vlab = slow.adam_label_noise_velocity(problem.loss, z0, c, jnp.diagonal(Sa), rank=rank)
    e_adam = jnp.linalg.norm(va - vlab) / jnp.linalg.norm(vlab)
    # V* = c·partial traces of H (Hessian route)
    e_fix = 0.0
    for (s, p, q), (VL, VR) in zip(layer_blocks(problem.model), shampoo_second_moments(problem, z0, c)):
        Hw = H[s : s + p * q, s : s + p * q].reshape(p, q, p, q)
        e_fix = jnp.maximum(e_fix, jnp.linalg.norm(VL - c * jnp.einsum("iaja->ij", Hw)) / jnp.linalg.norm(VL))
        e_fix = jnp.maximum(e_fix, jnp.linalg.norm(VR - c * jnp.einsum("aiaj->ij", Hw)) / jnp.linalg.norm(VR))
    # Kronecker order: vec_r(A M B) = (A ⊗ Bᵀ) vec_r(M); vec_c(A M B) = (Bᵀ ⊗ A) vec_c(M)
    A, B, M = (jax.random.normal(jax.random.PRNGKey(k), (2, 2), jnp.float64) for k in (0, 1, 2))
    B = B @ B.T
    e_kron = jnp.maximum(
        jnp.linalg.norm(jnp.kron(A, B.T) @ M.reshape(-1) - (A @ M @ B).reshape(-1)),
        jnp.linalg.norm(jnp.kron(B.T, A) @ M.T.reshape(-1) - (A @ M @ B).T.reshape(-1)),
    )
    return e_cov, normal, e_adam, e_fix, e_kron, jnp.linalg.norm(vel)


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
    sh = jax.vmap(lambda p: _curl_of(lambda th: shampoo_force(problem, th, c, p), problem, z0))(powers)
    return sh, _curl_of(lambda th: adam_force(problem, th, c), problem, z0)


@jax.jit
def _circulations(problem, z0, c, e1, e2, radii):
    """(∮ω, ∮|⟨F, γ′⟩|dφ, max L(γ)) around γ(φ) = retract(ζ₀ + r(cos φ e₁ + sin φ e₂)) ⊂ Γ for every r, for
    Shampoo and for Adam (periodic trapezoid, γ′ by jax.jvp through the retraction)."""
    return (jax.vmap(lambda r: _circulation(lambda th: shampoo_force(problem, th, c), problem, z0, e1, e2, r))(radii),
            jax.vmap(lambda r: _circulation(lambda th: adam_force(problem, th, c), problem, z0, e1, e2, r))(radii))


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
    """The coupled (ζ, V) slow flow from (ζ₀, V*(ζ₀)) to T (RK4, 200 steps)."""

    def field(y):
        z, Vs = y
        vel = velocity(problem, z, shampoo_preconditioner(Vs), c)
        target = shampoo_second_moments(problem, z, c)
        return vel, jax.tree_util.tree_map(lambda a, b: C2 * (a - b), target, Vs)

    return rk4(field, (z0, shampoo_second_moments(problem, z0, c)), T, 200)[0]


@jax.jit
def _simulate(problem, z0, eta, steps, keys, c):
    """Discrete Shampoo from ζ₀ (m₀ = 0, V₀ = V*(ζ₀)), runs in antithetic pairs (ε, −ε); end points."""
    b2 = 1.0 - C2 * eta**2
    blocks = layer_blocks(problem.model)
    V0 = shampoo_second_moments(problem, z0, c)
    signs = jnp.concatenate([jnp.ones(keys.shape[0] // 2), -jnp.ones(keys.shape[0] // 2)])

    def one(key, sign):
        def body(k, carry):
            eps = sign * DELTA * jax.random.normal(jax.random.fold_in(key, k), (problem.num_samples,))
            g = problem.labelled_gradient(carry[0], problem.y + eps)
            return shampoo_update(*carry, g, blocks, eta, B1, b2)

        return jax.lax.fori_loop(0, steps, body, (z0, jnp.zeros_like(z0), V0))[0]

    return jax.vmap(one)(keys, signs)


def _pair_se(x):
    """Standard error of the mean of runs stored as antithetic halves [x₊; x₋] (pairs are i.i.d.)."""
    h = x.shape[0] // 2
    pairs = 0.5 * (x[:h] + x[h:])
    return float(np.sqrt(np.sum(np.var(pairs.reshape(h, -1), axis=0, ddof=1)) / h))


def _discrete(etas, runs):
    problem, z0 = matrix_factorization()
    c = noise_c(problem)
    delta = np.asarray(_flow(problem, z0, c) - z0)
    scale = float(np.linalg.norm(delta))
    keys = jax.random.split(jax.random.PRNGKey(11), runs // 2)
    keys = jnp.concatenate([keys, keys])
    rows = []
    for eta in etas:
        steps = round(T / eta**2)
        disp = np.asarray(_simulate(problem, z0, eta, steps, keys, c) - z0)
        mean = disp.mean(axis=0)
        rows.append({
            "eta": eta, "steps": steps, "ok": bool(np.all(np.isfinite(disp))),
            "err": float(np.linalg.norm(mean - delta) / scale), "se": _pair_se(disp) / scale,
            "ratio": float(mean @ delta / scale**2),
        })
    slope = float(np.polyfit(np.log([r["eta"] for r in rows]), np.log([r["err"] for r in rows]), 1)[0])
    return rows, slope, scale


def check(size: str) -> list[CheckResult]:
    full = check_size(size)
    problem, z0 = matrix_factorization()
    c = noise_c(problem)
    e_cov, normal, e_adam, e_fix, e_kron, speed = _construction(problem, z0, c)
    rows = [
        CheckResult(
            "Shampoo slow flow with a full S = blockdiag(V_L*^{−½} ⊗ V_R*^{−½}) (row-major vec): "
            "−(c/4)∂Φ_S S∇³L[S] = ½∂²Φ_S[S(cH)S] (x = S^{½}x′), tangent to Γ",
            SOURCE + "; docs/theory.md s4.3",
            "vec_r(AMB) = (A⊗Bᵀ)vec_r(M), vec_c(AMB) = (Bᵀ⊗A)vec_c(M): max error " + f"{e_kron:.1e}",
            max(e_cov, normal, e_adam, e_fix, e_kron),
            1e-10,
            note=f"2-layer factorization ⟨A_k, W₂W₁⟩ (2×2 layers, n = 3, dim Γ = 5), c = {c:.4g}, |ζ̇| = {speed:.3f}: "
            f"vs change of variables {e_cov:.1e}, normal part |Jζ̇|/|ζ̇| {normal:.1e}; same code with Adam's diagonal S "
            f"vs sde.slow.adam_label_noise_velocity {e_adam:.1e}; E[GGᵀ], E[GᵀG] vs c·partial traces of H {e_fix:.1e}",
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
