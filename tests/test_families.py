"""Conformance of every registered optimizer family (`sde.families.FAMILIES`): a new family gets
these tests by its registry line.

* the discrete update equals optax's where optax has the optimizer (float64, 1e-10);
* the label-noise slow velocity is tangent to Γ (H·ζ̇ = 0) on two toys, and its Hessian and
  Jacobian routes agree;
* the fixed point of the state is stationary: c₂(𝒱(Σ) − v*) = 0, and the Monte Carlo mean of
  𝒱(ggᵀ) over label-noise gradients at ζ ∈ Γ is v* (a factor 2 in 𝒱 would miss by 50 %);
* the discrete mean displacement approaches the slow flow with slope ≈ 1 in η (docs/theory.md#96-test-tolerances).

Toys: matrix factorizations ⟨A_k, W₂W₁⟩ with Gaussian A_k (`models.DeepLinearNet`), whose Shampoo
second moments are positive definite at the fixed point.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from implicit_bias_lab import models
from implicit_bias_lab.sde import manifold as mf
from implicit_bias_lab.sde.discrete import antithetic_pair_se, simulate_antithetic
from implicit_bias_lab.sde.families import FAMILIES, AdamMini, get_family
from implicit_bias_lab.sde.noise import LabelNoise
from implicit_bias_lab.sde.slow import integrate_slow_flow

NAMES = sorted(FAMILIES)
DELTA = 1.0


def toy(dims, n, seed):
    """(problem, ζ₀ ∈ Γ) of a matrix-sensing factorization with labels from a random factorization."""
    net = models.DeepLinearNet(dims)
    X = jax.random.normal(jax.random.PRNGKey(seed), (n, dims[0] * dims[-1]), jnp.float64)
    theta_ref = net.initial_params(jax.random.PRNGKey(seed + 1), 1.0)
    problem = models.SquaredLossProblem(net, X, X @ net.product(theta_ref).reshape(-1))
    return problem, mf.retract_to_manifold(problem, net.initial_params(jax.random.PRNGKey(seed + 3), 1.0))


TOYS = {"2x2x2 n=3": ((2, 2, 2), 3, 3), "3x2x2 n=4": ((3, 2, 2), 4, 11)}


@pytest.fixture(scope="module", params=list(TOYS))
def toy_problem(request):
    return toy(*TOYS[request.param])


def hyper(family, bias_correction=False):
    if not family.has_state:
        return {}
    if family.name == "rmsprop":
        return {"decay": 0.9, "eps": 1e-8}
    if family.name == "shampoo":
        return {"b1": 0.9, "b2": 0.99, "eps": 1e-3}
    return {"b1": 0.9, "b2": 0.99, "eps": 1e-8, "bias_correction": bias_correction}


def run_updates(tx, params, grads):
    state = tx.init(params)
    for g in grads:
        updates, state = tx.update(g, state, params)
        params = optax.apply_updates(params, updates)
    return params


@pytest.mark.parametrize("name", NAMES)
def test_discrete_update_matches_optax(name):
    problem, z0 = toy(*TOYS["2x2x2 n=3"])
    family = get_family(name, model=problem.model)
    if family.optax_reference(0.01, **hyper(family, True)) is None:
        if isinstance(family, AdamMini) or name == "adalayer":
            family = type(family)(blocks=tuple(range(problem.num_params)))  # one block per coordinate: Adam
        else:
            pytest.skip(f"optax has no {name}")
    grads = jax.random.normal(jax.random.PRNGKey(0), (20, problem.num_params), jnp.float64)
    ours = run_updates(family.transform(0.01, **hyper(family, True)), z0, grads)
    ref = run_updates(family.optax_reference(0.01, **hyper(family, True)), z0, grads)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)
    assert float(jnp.max(jnp.abs(ours - z0))) > 1e-3  # the updates did move


@pytest.mark.parametrize("name", NAMES)
def test_slow_velocity_is_tangent(name, toy_problem):
    problem, z0 = toy_problem
    family = get_family(name, model=problem.model)
    c = DELTA**2 / problem.num_samples
    rank = problem.num_samples
    vel = family.slow_velocity(problem.loss, z0, c, rank=rank)
    H = mf.hessian(problem.loss, z0)
    assert float(jnp.linalg.norm(vel)) > 1e-3
    assert float(jnp.linalg.norm(H @ vel)) <= 1e-9 * float(jnp.linalg.norm(H)) * float(jnp.linalg.norm(vel))
    vel_j = family.jacobian_slow_velocity(problem.residuals, z0, c)
    np.testing.assert_allclose(vel_j, vel, rtol=0, atol=1e-9 * float(jnp.linalg.norm(vel)))


@pytest.mark.parametrize("name", NAMES)
def test_fixed_point_is_stationary(name):
    problem, z0 = toy(*TOYS["3x2x2 n=4"])
    family = get_family(name, model=problem.model)
    noise = LabelNoise(DELTA, "gaussian")
    Sigma = noise.covariance(problem, z0)
    v_star = family.fixed_point(Sigma)
    if not family.has_state:
        assert v_star is None
        return
    drift = family.state_velocity(v_star, Sigma, 7.0)
    assert all(float(jnp.max(jnp.abs(a))) == 0.0 for a in jax.tree_util.tree_leaves(drift))
    c = noise.label_noise_constant(problem)
    for a, b in zip(jax.tree_util.tree_leaves(family.label_noise_fixed_point(problem.loss, z0, c)), jax.tree_util.tree_leaves(v_star)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)
    # E[𝒱(ggᵀ)] over label-noise gradients at ζ ∈ Γ (∇L = 0 there) is 𝒱(Σ) = v*
    keys = jax.random.split(jax.random.PRNGKey(1), 20_000)
    samples = jax.vmap(lambda k: family.second_moment_of_gradient(noise.stochastic_gradient(problem, z0, k)))(keys)
    for s, want in zip(jax.tree_util.tree_leaves(samples), jax.tree_util.tree_leaves(v_star)):
        mean, se = jnp.mean(s, axis=0), jnp.std(s, axis=0) / np.sqrt(s.shape[0])
        assert float(jnp.max(jnp.abs(mean - want) - 6 * se)) <= 1e-12
        assert float(jnp.max(jnp.abs(mean - want))) <= 0.1 * float(jnp.max(jnp.abs(want)))


ETAS = (0.02, 0.01, 0.005)
C2, PAIRS = 10.0, 200


def slow_time(family, problem, z0, c):
    """T with the flow moving ≈ 0.3 (between 0.08 and 1.6), a multiple of every η² of ETAS."""
    speed = float(jnp.linalg.norm(family.slow_velocity(problem.loss, z0, c, rank=problem.num_samples)))
    unit = max(ETAS) ** 2
    return unit * np.ceil(np.clip(0.3 / speed, 0.08, 1.6) / unit)


def discrete_mean(family, problem, z0, noise, eta, T):
    """Mean end point of PAIRS antithetic pairs of discrete runs (β₁ = 0.9, 1 − β₂ = c₂η², ε = 0, v₀ = v*)."""
    steps = int(round(T / eta**2))
    hp = dict(hyper(family), b2=1 - C2 * eta**2, eps=0.0) if family.has_state else {}
    if family.name == "rmsprop":
        hp = {"decay": 1 - C2 * eta**2, "eps": 0.0}
    tx = family.transform(eta, **hp)
    state = family.with_second_moment(tx.init(z0), family.fixed_point(noise.covariance(problem, z0)))
    sim = simulate_antithetic(problem, noise, tx, z0, jax.random.split(jax.random.PRNGKey(5), PAIRS), num_steps=steps, opt_state0=state)
    assert np.all(np.asarray(sim.status) == 0)
    theta = np.asarray(sim.theta)
    return theta.mean(axis=0), antithetic_pair_se(theta)


@pytest.mark.parametrize("name", NAMES)
def test_discrete_drift_approaches_slow_flow(name):
    """Mean of discrete runs after slow time T = η²k against the slow flow (coupled with v when the
    family has one): relative error O(η), log-log slope within 1 ± 0.4, and the error at the
    smallest η below 0.25 and beyond 3 s.e. of its estimate; a flow off by a factor 2 leaves an
    error ≈ 1 and fails."""
    problem, z0 = toy(*TOYS["2x2x2 n=3"])
    family = get_family(name, model=problem.model)
    noise = LabelNoise(DELTA, "gaussian")
    c = noise.label_noise_constant(problem)
    T = slow_time(family, problem, z0, c)
    flow = integrate_slow_flow(problem.loss, z0, T, noise_scale=c, optimizer=family, c2=C2 if family.has_state else None,
                               num_saves=5, residual_fn=problem.residuals)
    target = flow.path[-1]
    scale = float(jnp.linalg.norm(target - z0))
    errors, ses = [], []
    for eta in ETAS:
        mean, se = discrete_mean(family, problem, z0, noise, eta, T)
        errors.append(float(np.linalg.norm(mean - target)) / scale)
        ses.append(se / scale)
    slope = np.polyfit(np.log(ETAS), np.log(errors), 1)[0]
    assert 0.6 <= slope <= 1.4, (errors, ses, slope)
    assert errors[-1] < 0.25 and ses[-1] < errors[-1] / 3, (errors, ses)


@pytest.mark.parametrize("name", NAMES)
def test_velocity_is_the_regularizer_flow(name, toy_problem):
    """Where a family names a regularizer R (ε = 0, v = v*), its slow velocity is −k(c)∂Φ_S S∇R:
    R by jax.grad of `regularizer` (Hessian diagonal), the velocity by the family's own
    ∇³L[S] route, so a wrong k or a wrong exponent in R fails (float64, 1e-8)."""
    problem, z0 = toy_problem
    family = get_family(name, model=problem.model)
    c = DELTA**2 / problem.num_samples
    k = family.regularizer_coefficient(c)
    if k is None:
        assert family.regularizer(problem.loss, z0) is None
        return
    vel = family.slow_velocity(problem.loss, z0, c, rank=problem.num_samples)
    grad_R = jax.grad(lambda z: family.regularizer(problem.loss, z))(z0)
    H = mf.hessian(problem.loss, z0)
    S = family.preconditioner(family.fixed_point(c * H)) if family.has_state else jnp.ones_like(z0)
    want = -k * (mf.oblique_projector(mf.normal_basis(H, rank=problem.num_samples), S) @ (S * grad_R))
    np.testing.assert_allclose(vel, want, rtol=0, atol=1e-8 * float(jnp.linalg.norm(vel)))


DIAGONAL_NET_PENALTIES = {
    # min over the fibre of R on the diagonal net at Σ = cH (docs/theory.md, diagonal-net regularizers)
    "sgd": lambda w, m, d: 4 * np.sum(m * np.abs(w)),
    "adam": lambda w, m, d: 4 * np.sum(np.sqrt(m * np.abs(w))),
    "rmsprop": lambda w, m, d: 4 * np.sum(np.sqrt(m * np.abs(w))),
    "adame": lambda w, m, d: 4 * np.sum(np.sqrt(m * np.abs(w))),
    "adam_mini": lambda w, m, d: np.sqrt(8) * np.sum(np.sqrt(m * np.abs(w))),
    "adalayer": lambda w, m, d: 2 * np.sqrt(d) * (np.sqrt(np.sum(m * np.maximum(w, 0))) + np.sqrt(np.sum(m * np.maximum(-w, 0)))),
    "shampoo": None,
}


@pytest.mark.parametrize("name", NAMES)
def test_diagonal_net_penalty(name):
    """The penalty on the diagonal net w = u⊙u − v⊙v: the closed form of each family (ℓ1 for SGD, ℓ½
    for Adam and Adam-mini's pairs {u_i, v_i}, √ of a weighted ℓ1 per sign for Adalayer's layers),
    equal to `regularizer` of the Hessian at the balanced point of the fibre, and no larger than R
    at an unbalanced point of the same fibre."""
    d, n = 6, 4
    net = models.DiagonalNet(d)
    family = get_family(name, model=net) if name != "shampoo" else None
    if name == "shampoo":
        assert DIAGONAL_NET_PENALTIES[name] is None  # no potential (docs/theory.md#shampoo-has-no-potential)
        return
    X = jax.random.normal(jax.random.PRNGKey(2), (n, d), jnp.float64)
    w = jnp.asarray([1.5, -0.7, 0.0, 0.3, -2.0, 0.9])
    m = jnp.mean(X * X, axis=0)
    got = float(family.diagonal_net_penalty(w, m))
    np.testing.assert_allclose(got, DIAGONAL_NET_PENALTIES[name](np.asarray(w), np.asarray(m), d), rtol=1e-12)
    problem = models.SquaredLossProblem(net, X, X @ w)
    balanced = jnp.concatenate([jnp.sqrt(jnp.maximum(w, 0)), jnp.sqrt(jnp.maximum(-w, 0))])
    # rtol 1e-6: at w_i = 0 the Hessian route's H_jj is residual round-off (≈ 1e-16), whose √ is 1e-8
    np.testing.assert_allclose(float(family.regularizer(problem.loss, balanced)), got, rtol=1e-6)
    t = 0.4  # u² = w⁺ + t, v² = w⁻ + t: the same w, off balance
    unbalanced = jnp.concatenate([jnp.sqrt(jnp.maximum(w, 0) + t), jnp.sqrt(jnp.maximum(-w, 0) + t)])
    assert float(family.regularizer(problem.loss, unbalanced)) > got * (1 + 1e-3)
