"""First-order SDEs (sde.first_order) and their integration routes (sde.integrate).

Tolerances (docs/theory.md#96-test-tolerances):
* route vs route (same keyed increments): rounding only, 1e-12 in float64;
* SDE simulation vs a closed form: Monte-Carlo s.e. ∝ 1/√runs (fixed seeds) — 4.5 s.e. — plus the
  Euler–Maruyama bias, O(Δt) relative (bounded by λ_max·Δt);
* discrete vs SDE: weak error of order 1 in η (SGD, t = ηk) measured on exact moments, so no
  Monte-Carlo noise enters; the log-log slope must be 1 ± 0.4. For Adam/RMSprop (t = η²k) the
  discrete side is Monte-Carlo; the error must fall with η by a margin of several s.e.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from implicit_bias_lab.models import LinearModel, LossProblem, SquaredLossProblem
from implicit_bias_lab.sde.discrete import RunStatus, adam, rmsprop, sgd, simulate, simulate_runs
from implicit_bias_lab.sde.first_order import (
    AdamSDE,
    RMSpropSDE,
    SGDSDE,
    SGDSDEState,
    make_first_order_sde,
    noise_covariance_diagonal,
    noise_factor,
)
from implicit_bias_lab.sde.integrate import diffrax_solve, euler_maruyama, integrate, integrate_runs
from implicit_bias_lab.sde.noise import AbstractNoise, IsotropicNoise, LabelNoise, MinibatchNoise, NoNoise

LOSS = {"loss": lambda p, th: p.loss(th)}


def linear_problem(X, theta_star):
    """L = (1/2n)‖Xθ − y‖², y = Xθ*: a quadratic ½(θ−θ*)ᵀA(θ−θ*), A = XᵀX/n."""
    X = jnp.asarray(X, jnp.float64)
    return SquaredLossProblem(LinearModel(X.shape[1]), X, X @ jnp.asarray(theta_star, jnp.float64))


FULL_X = np.array([[1.2, 0.3, 0.0], [0.0, 1.0, -0.4], [0.5, 0.0, 0.8]]) * np.sqrt(3)
FLAT_X = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 1.0]]) * np.sqrt(2)  # rank 2 in R³: one flat direction
FLAT_X_PADDED = np.vstack([FLAT_X * np.sqrt(3 / 2), np.zeros((1, 3))])  # n = 3, the same A
THETA_STAR = np.array([0.3, -0.2, 0.1])


def flat_problem():
    return linear_problem(FLAT_X, THETA_STAR)


# ----------------------------------------------------------------------------- closed forms
def ou_moments(A, b_cov, theta_star, theta0, t):
    """Mean and covariance at time t of dθ = −A(θ−θ*)dt + G dW, GGᵀ = b_cov, θ(0) = θ₀.

    In A's eigenbasis (A = VΛVᵀ, S = Vᵀ b_cov V): C_ij(t) = S_ij (1 − e^{−(λ_i+λ_j)t})/(λ_i+λ_j),
    = S_ij t where λ_i + λ_j = 0 (a random walk along flat directions). It solves
    dC/dt = −AC − CA + b_cov, C(0) = 0, i.e. AC + CA = b_cov(1 − e^{…}) entrywise.
    """
    lam, V = np.linalg.eigh(np.asarray(A))
    lam = np.where(np.abs(lam) < 1e-12 * np.max(np.abs(lam)), 0.0, lam)
    mean = theta_star + V @ (np.exp(-lam * t) * (V.T @ (theta0 - theta_star)))
    s = lam[:, None] + lam[None, :]
    safe = np.where(s > 0, s, 1.0)
    F = np.where(s > 0, -np.expm1(-s * t) / safe, t)
    C = V @ ((V.T @ np.asarray(b_cov) @ V) * F) @ V.T
    return mean, C


def sde_linearization(sde, theta):
    """(A, GGᵀ) read off an SGD SDE on a quadratic: A = −∂(drift)/∂θ, G = diffusion matrix."""
    A = -jax.jacobian(lambda th: sde.drift(0.0, SGDSDEState(th)).theta)(theta)
    eye = jnp.eye(sde.noise_dimension)
    G = jax.vmap(lambda z: sde.diffusion(0.0, SGDSDEState(theta), z).theta, out_axes=1)(eye)
    return np.asarray(A), np.asarray(G @ G.T)


# ----------------------------------------------------------------------------- noise factors
class DenseNoise(AbstractNoise):
    """A noise model known only through its covariance (exercises the eigh fallback)."""

    def stochastic_gradient(self, problem, theta, key):
        raise NotImplementedError

    def covariance(self, problem, theta):
        return jnp.diag(jnp.arange(1.0, problem.num_params + 1)) + 0.3


@pytest.mark.parametrize(
    "noise",
    [
        NoNoise(),
        IsotropicNoise(0.7),
        LabelNoise(0.5, "gaussian"),
        LabelNoise(0.5, "rademacher", batch_size=2, replace=True),
        LabelNoise(0.5, "gaussian", batch_size=2),
        MinibatchNoise(2),
        MinibatchNoise(1, replace=True),
        DenseNoise(),
    ],
)
def test_noise_factor_reproduces_the_noise_covariance(noise):
    problem = linear_problem(FULL_X, THETA_STAR)
    theta = jnp.array([1.0, -0.5, 0.3])  # off Γ: the sampling covariance is nonzero
    B, Sigma, diag = jax.jit(
        lambda th: (
            noise_factor(noise, problem, th),
            noise.covariance(problem, th),
            noise_covariance_diagonal(noise, problem, th),
        )
    )(theta)
    np.testing.assert_allclose(B @ B.T, Sigma, atol=1e-13)
    np.testing.assert_allclose(diag, jnp.diag(Sigma), atol=1e-13)


# ----------------------------------------------------------------------------- routes
def test_scan_and_diffrax_routes_give_the_same_path_and_flags():
    """Adam SDE (time-dependent drift, state-dependent minibatch noise, three state leaves)."""
    problem = flat_problem()
    theta0 = jnp.array([1.0, -0.5, 0.3])
    sde = AdamSDE(problem, MinibatchNoise(1), 0.1, 0.9, 0.95, 0.1, noise_scale=2.0)
    state0 = sde.init_state(theta0)
    key = jax.random.PRNGKey(3)
    kw = dict(num_steps=60, log_every=20, metrics=LOSS, start_step=5)
    scan = jax.jit(lambda thr: euler_maruyama(sde, state0, key, divergence_threshold=thr, **kw))
    dfx = jax.jit(lambda thr: diffrax_solve(sde, state0, key, divergence_threshold=thr, **kw))
    a, b = scan(1e8), dfx(1e8)
    for x, y in zip(jax.tree_util.tree_leaves(a.state), jax.tree_util.tree_leaves(b.state)):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.logs["loss"], b.logs["loss"], rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(a.log_steps, b.log_steps)
    np.testing.assert_allclose(a.log_times, 0.01 * np.arange(5, 66, 20), rtol=1e-15)
    assert int(a.status) == int(b.status) == RunStatus.OK
    assert not np.allclose(a.state.theta, theta0)  # it moved
    # a threshold below the path's max |θ| is crossed: both routes flag it (Diffrax at log resolution)
    thr = 0.9 * float(jnp.max(jnp.abs(theta0)))
    a, b = scan(thr), dfx(thr)
    assert int(a.status) == int(b.status) == RunStatus.DIVERGED
    assert 5 <= int(a.stopped_step) < 65 and int(b.stopped_step) in (5, 25, 45, 65)
    assert int(b.stopped_step) >= int(a.stopped_step)


def test_euler_maruyama_at_dt_eta_is_discrete_sgd_with_the_same_key():
    """EM with Δt = η of dθ = −(∇L dt + √ηΣ^{1/2}dW) is SGD with ξ_k = Σ^{1/2}z_k: same keys, same path."""
    problem = flat_problem()
    theta0 = jnp.array([1.0, -0.5, 0.3])
    key = jax.random.PRNGKey(11)
    eta = 0.05
    for noise in (LabelNoise(0.6, "gaussian"),):  # IsotropicNoise: the same, see the adaptive test
        sde = SGDSDE(problem, noise, eta)
        a = euler_maruyama(sde, sde.init_state(theta0), key, num_steps=40, log_every=40, start_step=7)
        b = simulate(problem, noise, sgd(eta), theta0, key, num_steps=40, log_every=40, start_step=7)
        np.testing.assert_allclose(a.state.theta, b.theta, rtol=0, atol=1e-12)


def test_runs_flag_blow_up_and_never_poison_the_batch():
    problem = LossProblem(lambda th: 0.5 * jnp.sum(th**2), 2)
    sde = SGDSDE(problem, NoNoise(), 0.1)
    # Δt = 3: θ ← (1 − 3)θ doubles |θ| each step: θ₀ = 0 stays, θ₀ ≠ 0 passes 1e8 at step 27
    theta0 = jnp.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    res = integrate_runs(sde, jax.vmap(sde.init_state)(theta0), keys, num_steps=40, log_every=10, dt=3.0, metrics=LOSS)
    np.testing.assert_array_equal(res.status, [RunStatus.OK, RunStatus.DIVERGED, RunStatus.OK])
    assert int(res.stopped_step[1]) == 26 and int(res.stopped_step[0]) == -1
    assert np.all(np.isfinite(res.state.theta)) and np.all(np.isfinite(res.logs["loss"]))


# ----------------------------------------------------------------------------- OU closed form
@pytest.mark.slow
@pytest.mark.parametrize("case", ["full_rank_isotropic", "flat_isotropic", "flat_label_noise"])
def test_sgd_sde_matches_ornstein_uhlenbeck_closed_form(case):
    """L = ½(θ−θ*)ᵀA(θ−θ*): mean θ* + e^{−At}(θ₀−θ*), covariance from the Lyapunov ODE (ou_moments)."""
    # the flat isotropic case pads X with a zero row (same A): same shapes as the full-rank case,
    # so both reuse one compiled program
    X = {"full_rank_isotropic": FULL_X, "flat_isotropic": FLAT_X_PADDED, "flat_label_noise": FLAT_X}[case]
    problem = linear_problem(X, THETA_STAR)
    noise = LabelNoise(0.8, "rademacher") if case == "flat_label_noise" else IsotropicNoise(0.6)
    eta, t, dt, runs = 0.2, 1.0, 0.01, 4000
    sde = SGDSDE(problem, noise, eta)
    theta0 = jnp.array([1.0, -0.5, 0.3])
    A = np.asarray(problem.hessian(theta0))
    Sigma = np.asarray(noise.covariance(problem, theta0))  # constant on a quadratic for these noises
    if case == "flat_label_noise":
        np.testing.assert_allclose(Sigma, 0.8**2 / 2 * A, atol=1e-14)  # Σ = (δ²/n)A
    mean, C = ou_moments(A, eta * Sigma, THETA_STAR, np.asarray(theta0), t)
    keys = jax.random.split(jax.random.PRNGKey(42), runs)
    states = jax.vmap(sde.init_state)(jnp.tile(theta0, (runs, 1)))
    res = integrate_runs(sde, states, keys, num_steps=int(round(t / dt)), log_every=100, dt=dt, block_size=500)
    assert np.all(np.asarray(res.status) == RunStatus.OK)
    th = np.asarray(res.state.theta)
    emp_mean, emp_C = th.mean(0), np.cov(th.T)
    d = np.sqrt(np.diag(C))
    em_bias = np.max(np.linalg.eigvalsh(A)) * dt  # EM's relative O(Δt) bias on the covariance
    mean_se = d / np.sqrt(runs)
    cov_se = np.sqrt((np.outer(d, d) ** 2 + C**2) / runs)
    assert np.all(np.abs(emp_mean - mean) <= 4.5 * mean_se + 1e-12)
    assert np.all(np.abs(emp_C - C) <= 4.5 * cov_se + em_bias * np.abs(C) + 1e-12)
    if case == "flat_isotropic":  # the flat direction is a random walk of variance ησ²t
        v = np.linalg.eigh(A)[1][:, 0]
        assert v @ C @ v == pytest.approx(eta * 0.6**2 * t, rel=1e-10)
        assert v @ emp_C @ v == pytest.approx(eta * 0.6**2 * t, rel=6 * np.sqrt(2 / runs))
    if case == "flat_label_noise":  # no noise along Γ: the flat coordinate does not move
        v = np.linalg.eigh(A)[1][:, 0]
        np.testing.assert_allclose(th @ v, float(theta0 @ v), atol=1e-12)


# ----------------------------------------------------------------------------- discrete vs SDE: SGD
def discrete_sgd_moments(A, Sigma, theta_star, theta0, eta, k):
    """Exact mean and covariance of θ_k for θ_{j+1} = θ_j − η(A(θ_j−θ*) + ξ_j), Cov ξ = Σ."""
    M = np.eye(len(theta0)) - eta * A
    mean, C = theta0 - theta_star, np.zeros_like(A)
    for _ in range(k):
        mean, C = M @ mean, M @ C @ M.T + eta**2 * Sigma
    return theta_star + mean, C


@pytest.mark.parametrize("case", ["full_rank_isotropic", "flat_label_noise"])
def test_sgd_weak_error_is_first_order_in_eta(case):
    X = FULL_X if case == "full_rank_isotropic" else FLAT_X
    problem = linear_problem(X, THETA_STAR)
    noise = LabelNoise(0.8, "rademacher") if case == "flat_label_noise" else IsotropicNoise(0.6)
    theta0 = np.array([1.5, -1.0, 0.8])
    Sigma = np.asarray(noise.covariance(problem, jnp.asarray(theta0)))
    t = 1.0
    etas = 0.04 / 2.0 ** np.arange(4)  # asymptotic regime: at η ≳ 0.1 O(η²) terms still compete
    errors = {"E[L]": [], "E[θθᵀ]": [], "Cov/η": []}
    for eta in etas:
        k = int(round(t / eta))
        assert k * eta == pytest.approx(t, rel=1e-12)
        sde = SGDSDE(problem, noise, float(eta))
        A, b_cov = sde_linearization(sde, jnp.asarray(theta0))  # from the SDE's own drift/diffusion
        np.testing.assert_allclose(b_cov, eta * Sigma, atol=1e-14)
        m_sde, C_sde = ou_moments(A, b_cov, THETA_STAR, theta0, t)
        m_dis, C_dis = discrete_sgd_moments(A, Sigma, THETA_STAR, theta0, eta, k)

        def expected_loss(m, C):
            r = m - THETA_STAR
            return 0.5 * (r @ A @ r + np.trace(A @ C))

        errors["E[L]"].append(abs(expected_loss(m_dis, C_dis) - expected_loss(m_sde, C_sde)))
        second = lambda m, C: C + np.outer(m, m)  # noqa: E731
        errors["E[θθᵀ]"].append(np.linalg.norm(second(m_dis, C_dis) - second(m_sde, C_sde)))
        # the noise part alone: Cov is O(η), so its relative error is the first-order one
        errors["Cov/η"].append(np.linalg.norm(C_dis - C_sde) / eta)
    for name, errs in errors.items():
        slope = np.polyfit(np.log(etas), np.log(errs), 1)[0]
        assert abs(slope - 1.0) <= 0.4, (name, errs, slope)


def test_discrete_engine_follows_the_exact_sgd_moment_recursion():
    """The recursion above is the lab's SGD (Rademacher label noise), within Monte-Carlo error."""
    problem = flat_problem()
    noise = LabelNoise(0.8, "rademacher")
    theta0 = jnp.array([1.0, -0.5, 0.3])
    eta, k, runs = 0.1, 20, 4000
    A = np.asarray(problem.hessian(theta0))
    mean, C = discrete_sgd_moments(A, np.asarray(noise.covariance(problem, theta0)), THETA_STAR, np.asarray(theta0), eta, k)
    keys = jax.random.split(jax.random.PRNGKey(5), runs)
    res = simulate_runs(problem, noise, sgd(eta), jnp.tile(theta0, (runs, 1)), keys, num_steps=k, log_every=k, block_size=runs)
    th = np.asarray(res.theta)
    d = np.sqrt(np.diag(C))
    assert np.all(np.abs(th.mean(0) - mean) <= 4.5 * d / np.sqrt(runs) + 1e-12)
    assert np.all(np.abs(np.cov(th.T) - C) <= 4.5 * np.sqrt((np.outer(d, d) ** 2 + C**2) / runs) + 1e-12)


# ----------------------------------------------------------------------------- discrete vs SDE: adaptive
# L = ½θᵀ diag(λ) θ, isotropic noise σ = σ₀/η (Σ_M = I, noise_scale σ), Malladi's scaling:
# 1 − β_i = c_iη², ε = ε₀/η, m₀ = v₀ = 0, slow time t = η²k.
LAM = np.array([1.0, 0.25])
SIGMA0, C1, C2, EPS0, T_SLOW = 0.5, 2.0, 2.0, 0.1, 1.0
X0 = np.array([1.0, 1.0])


def adaptive_reference_loss(name):
    """E[L(θ_t)] of the SDE, from its moment equations (u is deterministic for Σ_M = I).

    RMSprop: u = 1 − e^{−c₂t}, p = σ₀√u + ε₀; per eigen-direction dμ = −λμ/p dt,
    dV = (−2λV/p + σ₀²/p²) dt. Adam: u = γ₂, so P = √γ₂(σ₀ + ε₀) and dθ = −m/(γ₁(σ₀+ε₀)) dt,
    dm = c₁(λθ − m)dt + σ₀c₁dW: a linear system for (E θ, E m, Vθθ, Vθm, Vmm), started at
    τ = 1e-10 from its small-t expansion (the coefficient 1/γ₁ is singular at 0).
    """
    if name == "rmsprop":

        def f(t, y):
            p = SIGMA0 * np.sqrt(-np.expm1(-C2 * t)) + EPS0
            mu, V = y[:2], y[2:]
            return np.concatenate([-LAM * mu / p, -2 * LAM * V / p + SIGMA0**2 / p**2])

        y0, t0 = np.concatenate([X0, [0.0, 0.0]]), 0.0
    else:
        s = SIGMA0 + EPS0

        def f(t, y):
            g1 = -np.expm1(-C1 * t)
            mx, mm, Vxx, Vxm, Vmm = y.reshape(5, 2)
            return np.concatenate(
                [
                    -mm / (g1 * s),
                    C1 * (LAM * mx - mm),
                    -2 * Vxm / (g1 * s),
                    -Vmm / (g1 * s) + C1 * (LAM * Vxx - Vxm),
                    2 * C1 * (LAM * Vxm - Vmm) + SIGMA0**2 * C1**2,
                ]
            )

        t0 = 1e-10
        y0 = np.concatenate([X0, C1 * t0 * LAM * X0, [0, 0, 0, 0], SIGMA0**2 * C1**2 * t0 * np.ones(2)])
    y = solve_ivp(f, (t0, T_SLOW), y0, method="LSODA", rtol=1e-10, atol=1e-13).y[:, -1]
    mean, var = y[:2], (y[2:4] if name == "rmsprop" else y[4:6])
    return 0.5 * np.sum(LAM * (mean**2 + var))


def adaptive_pair(name, eta):
    sigma = SIGMA0 / eta
    noise = IsotropicNoise(sigma)
    if name == "rmsprop":
        hp = dict(decay=1 - C2 * eta**2, eps=EPS0 / eta)
        return noise, rmsprop(eta, **hp), RMSpropSDE(QUADRATIC, noise, eta, noise_scale=sigma, **hp)
    hp = dict(b1=1 - C1 * eta**2, b2=1 - C2 * eta**2, eps=EPS0 / eta)
    return noise, adam(eta, **hp), AdamSDE(QUADRATIC, noise, eta, noise_scale=sigma, **hp)


QUADRATIC = LossProblem(lambda th: 0.5 * th @ (jnp.asarray(LAM) * th), 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rmsprop", "adam"])
def test_adaptive_sde_matches_discrete_with_error_falling_in_eta(name):
    ref = adaptive_reference_loss(name)
    # (1) the SDE itself (fine-step EM, bias O(Δt)) reproduces its moment equations
    runs = 10000
    keys = jax.random.split(jax.random.PRNGKey(1), runs)
    _, _, sde = adaptive_pair(name, 0.1)
    dt = 0.004
    states = jax.vmap(sde.init_state)(jnp.tile(jnp.asarray(X0), (runs, 1)))
    res = integrate_runs(sde, states, keys, num_steps=int(round(T_SLOW / dt)), log_every=250, dt=dt, block_size=runs)
    L = np.asarray(jax.vmap(QUADRATIC.loss)(res.state.theta))
    assert abs(L.mean() - ref) <= 4.5 * L.std() / np.sqrt(runs) + 0.02 * ref
    # (2) discrete optimizer at t = η²k: the weak error falls with η
    runs = 20000
    keys = jax.random.split(jax.random.PRNGKey(0), runs)
    etas = np.array([0.4, 0.2, 0.1])
    errs, ses = [], []
    for eta in etas:
        noise, opt, _ = adaptive_pair(name, float(eta))
        k = int(round(T_SLOW / eta**2))
        out = simulate_runs(QUADRATIC, noise, opt, jnp.tile(jnp.asarray(X0), (runs, 1)), keys, num_steps=k, log_every=k, block_size=runs)
        L = np.asarray(jax.vmap(QUADRATIC.loss)(out.theta))
        errs.append(abs(L.mean() - ref))
        ses.append(L.std() / np.sqrt(runs))
    errs, ses = np.array(errs), np.array(ses)
    assert errs[0] > errs[1] > errs[2] - 2 * ses[2], (errs, ses)
    assert errs[2] < errs[0] / 2, (errs, ses)  # at least halved over a 4× smaller η …
    assert errs[0] - errs[2] > 4 * np.hypot(ses[0], ses[2]), (errs, ses)  # … and significantly
    assert errs[2] < 0.05 * ref  # and within 5% at η = 0.1
    slope = np.polyfit(np.log(etas), np.log(errs), 1)[0]
    assert 0.5 <= slope <= 2.5, (errs, slope)


# ----------------------------------------------------------------------------- bad input
def test_bad_inputs_raise_value_errors_naming_the_field():
    problem = flat_problem()
    noise = IsotropicNoise(0.5)
    with pytest.raises(ValueError, match="learning_rate"):
        SGDSDE(problem, noise, 0.0)
    with pytest.raises(ValueError, match="learning_rate"):
        AdamSDE(problem, noise, -0.1)
    with pytest.raises(ValueError, match="decay"):
        RMSpropSDE(problem, noise, 0.1, decay=1.0)
    with pytest.raises(ValueError, match="b1"):
        AdamSDE(problem, noise, 0.1, b1=-0.1)
    with pytest.raises(ValueError, match="b2"):
        AdamSDE(problem, noise, 0.1, b2=1.5)
    with pytest.raises(ValueError, match="eps"):
        AdamSDE(problem, noise, 0.1, eps=-1.0)
    with pytest.raises(ValueError, match="noise_scale"):
        RMSpropSDE(problem, noise, 0.1, noise_scale=0.0)
    with pytest.raises(ValueError, match="batch_size"):
        SGDSDE(problem, MinibatchNoise(5), 0.1)  # n = 2
    with pytest.raises(ValueError, match="optimizer"):
        make_first_order_sde("lion", problem, noise, learning_rate=0.1)
    sde = make_first_order_sde("adam", problem, noise, learning_rate=0.1)
    with pytest.raises(ValueError, match="theta0"):
        sde.init_state(jnp.zeros(4))
    with pytest.raises(ValueError, match="v0"):
        sde.init_state(jnp.zeros(3), v0=jnp.zeros(2))
    with pytest.raises(ValueError, match="m0"):
        sde.init_state(jnp.zeros(3), m0=jnp.zeros((3, 1)))
    state = sde.init_state(jnp.zeros(3))
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="dt"):
        integrate(sde, state, key, num_steps=4, log_every=2, dt=0.0)
    with pytest.raises(ValueError, match="log_every"):
        integrate(sde, state, key, num_steps=4, log_every=3)
    with pytest.raises(ValueError, match="route"):
        integrate(sde, state, key, route="rk4", num_steps=4, log_every=2)
    with pytest.raises(ValueError, match="brownian"):
        integrate(sde, state, key, route="diffrax", brownian="unsafe", num_steps=4, log_every=2)
    with pytest.raises(ValueError, match="state0.theta"):
        integrate(sde, state._replace(theta=jnp.zeros(2)), key, num_steps=4, log_every=2)
    batched = jax.vmap(sde.init_state)(jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="keys"):
        integrate_runs(sde, batched, jax.random.split(key, 2), num_steps=4, log_every=2)
    with pytest.raises(ValueError, match="state0.m"):
        integrate_runs(sde, batched._replace(m=jnp.zeros((3, 2))), jax.random.split(key, 3), num_steps=4, log_every=2)
