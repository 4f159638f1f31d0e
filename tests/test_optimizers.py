"""Each optimizer against a hand-written NumPy reference (float64, 1e-10) and against optax
where the semantics match."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from implicit_bias_lab.sde.discrete import adam, adame, adaptive, make_optimizer, rmsprop, sgd

STEPS = 12


def quadratic_grad(A, b):
    return lambda theta: A @ theta - b


def run(opt, grad, theta0):
    state = opt.init(theta0)
    theta = theta0
    for _ in range(STEPS):
        updates, state = opt.update(grad(theta), state, theta)
        theta = theta + updates
    return theta


def numpy_sgd(grad, theta, lr, mu, nesterov):
    m = np.zeros_like(theta)
    for _ in range(STEPS):
        g = grad(theta)
        m = mu * m + g
        theta = theta - lr * (g + mu * m if nesterov else m)
    return theta


def numpy_adaptive(grad, theta, lr, b1, b2, eps, lam, bias_correction):
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for k in range(1, STEPS + 1):
        g = grad(theta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        mh, vh = (m / (1 - b1**k), v / (1 - b2**k)) if bias_correction else (m, v)
        theta = theta - lr * mh / (vh**lam + eps)
    return theta


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(5, 5))
    A, b = B @ B.T / 5 + np.eye(5), rng.normal(size=5)
    theta0 = rng.normal(size=5)
    return A, b, theta0


@pytest.mark.parametrize("mu,nesterov", [(0.0, False), (0.9, False), (0.7, True)])
def test_sgd_matches_numpy_and_optax(problem, mu, nesterov):
    A, b, theta0 = problem
    ours = run(sgd(0.05, mu, nesterov), quadratic_grad(jnp.asarray(A), jnp.asarray(b)), jnp.asarray(theta0))
    ref = numpy_sgd(lambda t: A @ t - b, theta0, 0.05, mu, nesterov)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)
    theirs = run(optax.sgd(0.05, momentum=mu or None, nesterov=nesterov), quadratic_grad(jnp.asarray(A), jnp.asarray(b)), jnp.asarray(theta0))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)
    assert np.max(np.abs(ours - theta0)) > 1e-3  # it moved


@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("b1,lam,eps", [(0.9, 0.5, 1e-8), (0.0, 0.5, 1e-3), (0.8, 0.25, 1e-6), (0.5, 0.9, 0.0)])
def test_adaptive_matches_numpy(problem, bias_correction, b1, lam, eps):
    A, b, theta0 = problem
    opt = adaptive(0.01, b1, 0.95, eps, lam, bias_correction)
    ours = run(opt, quadratic_grad(jnp.asarray(A), jnp.asarray(b)), jnp.asarray(theta0))
    ref = numpy_adaptive(lambda t: A @ t - b, theta0, 0.01, b1, 0.95, eps, lam, bias_correction)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)
    assert np.max(np.abs(ours - theta0)) > 1e-3


def test_adam_with_bias_correction_is_optax_adam(problem):
    A, b, theta0 = problem
    grad = quadratic_grad(jnp.asarray(A), jnp.asarray(b))
    ours = run(adam(0.01, 0.9, 0.99, 1e-8, bias_correction=True), grad, jnp.asarray(theta0))
    theirs = run(optax.adam(0.01, 0.9, 0.99, 1e-8), grad, jnp.asarray(theta0))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_presets_are_the_general_rule(problem):
    A, b, theta0 = problem
    grad = quadratic_grad(jnp.asarray(A), jnp.asarray(b))
    t0 = jnp.asarray(theta0)
    np.testing.assert_array_equal(run(rmsprop(0.01, 0.9, 1e-6), grad, t0), run(adaptive(0.01, 0.0, 0.9, 1e-6), grad, t0))
    np.testing.assert_array_equal(run(adame(0.01, 0.3, 0.9, 0.99, 1e-6), grad, t0), run(adaptive(0.01, 0.9, 0.99, 1e-6, 0.3), grad, t0))


def test_dtype_survives_float32_and_float64(problem):
    A, b, theta0 = problem
    for dtype in (jnp.float32, jnp.float64):
        for opt in (sgd(0.01, 0.9), adam(0.01), adame(0.01, 0.1)):
            t0 = jnp.asarray(theta0, dtype)
            theta = run(opt, quadratic_grad(jnp.asarray(A, dtype), jnp.asarray(b, dtype)), t0)
            assert theta.dtype == dtype


@pytest.mark.parametrize(
    "name,kwargs,field",
    [
        ("sgd", {"learning_rate": -0.1}, "learning_rate"),
        ("sgd", {"learning_rate": 0.0}, "learning_rate"),
        ("sgd", {"learning_rate": 0.1, "momentum": 1.0}, "momentum"),
        ("adam", {"learning_rate": 0.1, "b1": -0.1}, "b1"),
        ("adam", {"learning_rate": 0.1, "b2": 1.0}, "b2"),
        ("adam", {"learning_rate": 0.1, "eps": -1e-8}, "eps"),
        ("adame", {"learning_rate": 0.1, "lam": 1.0}, "lam"),
        ("rmsprop", {"learning_rate": 0.1, "decay": 1.5}, "decay"),
        ("sgd", {"learning_rate": 0.1, "beta": 0.5}, "beta"),
        ("lion", {"learning_rate": 0.1}, "optimizer"),
    ],
)
def test_bad_hyperparameters_name_the_field(name, kwargs, field):
    with pytest.raises(ValueError, match=field):
        make_optimizer(name, **kwargs)
