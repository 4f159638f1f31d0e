"""Noise models: the empirical covariance of the drawn gradients equals the stated Σ(θ).

The tolerance is a Monte-Carlo one: with N draws the standard error of an entry of the sample
covariance is ≈ sqrt((Σ_ii Σ_jj + Σ_ij²)/N); we allow 5 s.e. entrywise and also require the
relative Frobenius error to be below 0.1, which a factor 2 (or a factor n/B) in c would fail.
"""

import jax
import numpy as np
import pytest

from implicit_bias_lab.sde.noise import IsotropicNoise, LabelNoise, MinibatchNoise, NoNoise, make_noise

N_DRAWS = 40_000


def empirical_covariance(noise, problem, theta, n_draws=N_DRAWS):
    keys = jax.random.split(jax.random.PRNGKey(7), n_draws)
    G = jax.jit(jax.vmap(lambda k: noise.stochastic_gradient(problem, theta, k)))(keys)
    G = np.asarray(G)
    mean = G.mean(axis=0)
    return mean, np.cov(G.T, bias=False)


def assert_covariance_matches(emp, Sigma, n_draws=N_DRAWS):
    Sigma = np.asarray(Sigma)
    d = np.sqrt(np.diag(Sigma))
    se = np.sqrt((np.outer(d, d) ** 2 + Sigma**2) / n_draws) + 1e-15
    assert np.max(np.abs(emp - Sigma) / se) < 5.0
    assert np.linalg.norm(emp - Sigma) / np.linalg.norm(Sigma) < 0.1


@pytest.mark.parametrize("distribution", ["gaussian", "rademacher"])
@pytest.mark.parametrize("batch_size,replace", [(None, False), (1, False), (2, True), (2, False)])
def test_label_noise_covariance_is_cH_on_manifold(small_diag_problem, distribution, batch_size, replace):
    problem, theta = small_diag_problem  # θ ∈ Γ
    delta = 0.7
    noise = LabelNoise(delta, distribution, batch_size, replace)
    c = noise.label_noise_constant(problem)
    B = problem.num_samples if batch_size is None else batch_size
    assert c == pytest.approx(delta**2 / B)
    H = problem.hessian(theta)
    np.testing.assert_allclose(noise.covariance(problem, theta), c * H, atol=1e-12)
    mean, emp = empirical_covariance(noise, problem, theta)
    assert np.max(np.abs(mean)) < 5 * np.sqrt(np.max(np.diag(c * H)) / N_DRAWS)  # unbiased: ∇L = 0 on Γ
    assert_covariance_matches(emp, c * H)


@pytest.mark.parametrize("replace", [True, False])
def test_minibatch_and_batch_label_noise_covariance_off_manifold(small_diag_problem, replace):
    problem, theta = small_diag_problem
    theta = theta + 0.3  # off Γ: per-sample gradients differ
    for noise in (MinibatchNoise(2, replace), LabelNoise(0.5, "gaussian", 2, replace)):
        mean, emp = empirical_covariance(noise, problem, theta)
        Sigma = noise.covariance(problem, theta)
        assert_covariance_matches(emp, Sigma)
        np.testing.assert_allclose(mean, problem.grad(theta), atol=5 * np.sqrt(np.max(np.diag(Sigma)) / N_DRAWS))


def test_isotropic_and_no_noise(small_diag_problem):
    problem, theta = small_diag_problem
    _, emp = empirical_covariance(IsotropicNoise(0.3), problem, theta)
    assert_covariance_matches(emp, 0.09 * np.eye(8))
    g = NoNoise().stochastic_gradient(problem, theta + 0.1, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(g, problem.grad(theta + 0.1))


@pytest.mark.parametrize(
    "call,field",
    [
        (lambda: LabelNoise(-0.1), "delta"),
        (lambda: LabelNoise(0.1, "uniform"), "distribution"),
        (lambda: LabelNoise(0.1, batch_size=0), "batch_size"),
        (lambda: MinibatchNoise(0), "batch_size"),
        (lambda: IsotropicNoise(-1.0), "sigma"),
        (lambda: make_noise("pink"), "noise"),
    ],
)
def test_bad_noise_settings_name_the_field(call, field):
    with pytest.raises(ValueError, match=field):
        call()


def test_batch_larger_than_data_is_rejected(small_diag_problem):
    problem, _ = small_diag_problem
    with pytest.raises(ValueError, match="batch_size"):
        LabelNoise(0.1, batch_size=10).validate(problem)
