"""Models: closed forms against autodiff, data generators, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_bias_lab import models
from implicit_bias_lab.models import (
    DeepLinearNet,
    DiagonalNet,
    FunctionModel,
    LinearModel,
    LossProblem,
    NoisyEllipse,
    ProductToy,
    SquaredLossProblem,
    make_model,
    make_sparse_regression,
    trace_diag_hessian_power,
    trace_sqrt_diag_hessian,
)
from implicit_bias_lab.models.sparse_regression import heldout_test_loss, population_test_loss


@pytest.mark.parametrize("design", ["gaussian", "rademacher"])
@pytest.mark.parametrize("positive", [False, True])
def test_diagonal_net_closed_forms_match_autodiff(design, positive):
    d, n = 6, 4
    net = DiagonalNet(d, positive=positive)
    key = jax.random.PRNGKey(1)
    theta = jax.random.normal(key, (net.num_params,))
    data = make_sparse_regression(jax.random.PRNGKey(2), n, d, 2, design=design)
    problem = SquaredLossProblem(net, data.X, data.X @ net.effective_weights(theta))  # θ ∈ Γ
    H = problem.hessian(theta)
    np.testing.assert_allclose(net.hessian_on_manifold(theta, data.X), H, atol=1e-10)
    np.testing.assert_allclose(net.trace_hessian_on_manifold(theta, data.X), jnp.trace(H), atol=1e-10)
    np.testing.assert_allclose(net.gauss_newton_diagonal(theta, data.X), jnp.diagonal(H), atol=1e-10)
    np.testing.assert_allclose(
        net.trace_sqrt_diag_hessian_on_manifold(theta, data.X), trace_sqrt_diag_hessian(H), atol=1e-10
    )
    grad_tr = jax.grad(lambda th: jnp.trace(problem.hessian(th)))(theta)
    closed = net.grad_trace_hessian_on_manifold(theta, data.X)
    if positive:  # equal up to a vector in range Jᵀ: compare tangential parts
        J = problem.jacobian(theta)
        P = jnp.eye(net.num_params) - J.T @ jnp.linalg.pinv(J @ J.T) @ J
        np.testing.assert_allclose(P @ closed, P @ grad_tr, atol=1e-10)
    else:
        np.testing.assert_allclose(closed, grad_tr, atol=1e-10)
    if design == "rademacher":  # m_i = 1 exactly: Diag H = 4θ²
        np.testing.assert_allclose(jnp.diagonal(H), 4 * theta**2, atol=1e-12)


def test_sharpness_measures_on_a_worked_example():
    H = jnp.array([[2.0, 2.0], [2.0, 2.0]])
    assert float(jnp.trace(H)) == 4.0
    np.testing.assert_allclose(trace_sqrt_diag_hessian(H), 2 * np.sqrt(2), rtol=1e-14)
    np.testing.assert_allclose(trace_diag_hessian_power(H, 0.25), 2 * 2**0.25, rtol=1e-14)
    np.testing.assert_allclose(models.lambda_max(H), 4.0, rtol=1e-14)


def test_problem_derivatives_agree():
    model = FunctionModel(lambda th, x: jnp.tanh(th[0] * x[0]) + th[1] * th[2] * x[1], 3)
    X = jax.random.normal(jax.random.PRNGKey(0), (5, 2))
    y = jax.random.normal(jax.random.PRNGKey(1), (5,))
    sq = SquaredLossProblem(model, X, y)
    plain = LossProblem(lambda th: 0.5 * jnp.mean((jax.vmap(model.fn, (None, 0))(th, X) - y) ** 2), 3)
    theta = jnp.array([0.3, -0.7, 1.1])
    np.testing.assert_allclose(sq.grad(theta), plain.grad(theta), atol=1e-12)
    np.testing.assert_allclose(sq.hessian(theta), plain.hessian(theta), atol=1e-12)
    np.testing.assert_allclose(sq.grad(theta), jnp.mean(sq.per_sample_gradients(theta), axis=0), atol=1e-12)


def test_toys_have_the_stated_minimizers():
    prod = ProductToy().problem()
    assert float(prod.loss(jnp.array([2.0, 0.5]))) == 0.0
    np.testing.assert_allclose(prod.loss(jnp.array([1.0, 2.0])), 0.5, rtol=1e-14)
    ell = NoisyEllipse(1.0, 0.4)
    p = ell.problem()
    for angle in np.linspace(0, 2 * np.pi, 7):
        assert float(p.loss(ell.point_on_manifold(angle))) < 1e-28
    assert float(p.loss(jnp.array([0.0, 0.0]))) == 0.5


def test_flat_quadratic_has_a_flat_manifold():
    problem = models.flat_quadratic(jax.random.PRNGKey(0), 6, 3)
    H = problem.hessian(jnp.zeros(6))
    assert int(jnp.sum(jnp.linalg.eigvalsh(H) > 1e-10)) == 3
    theta_min, *_ = jnp.linalg.lstsq(problem.X, problem.y)
    null = jnp.linalg.svd(problem.X)[2][-1]  # a direction along Γ
    for s in (0.0, 1.0, -3.0):
        assert float(problem.loss(theta_min + s * null)) < 1e-20
        np.testing.assert_allclose(jnp.trace(problem.hessian(theta_min + s * null)), jnp.trace(H), rtol=1e-12)


def test_deep_linear_net_product_and_sensing():
    net = DeepLinearNet((3, 4, 5, 2))
    theta = net.initial_params(jax.random.PRNGKey(0), 1.0)
    W1, W2, W3 = net.layers(theta)
    np.testing.assert_allclose(net.product(theta), W3 @ W2 @ W1, atol=1e-12)
    A, y, M = models.matrix_sensing_data(jax.random.PRNGKey(1), 7, 2, 3, 1)
    assert A.shape == (7, 6) and np.linalg.matrix_rank(np.asarray(M)) == 1
    np.testing.assert_allclose(net.predict(theta, A[0]), jnp.sum(A[0].reshape(2, 3) * net.product(theta)), atol=1e-12)


def test_sparse_regression_data():
    data = make_sparse_regression(jax.random.PRNGKey(3), 50, 40, 5, design="rademacher", magnitudes="uniform")
    assert set(np.unique(np.asarray(data.X))) == {-1.0, 1.0}
    nz = np.abs(np.asarray(data.w_star))[np.asarray(data.w_star) != 0]
    assert len(nz) == 5 and nz.min() >= 0.01 and nz.max() <= 1.0
    np.testing.assert_allclose(data.y, data.X @ data.w_star)
    same_truth = make_sparse_regression(jax.random.PRNGKey(3), 10, 40, 5, design="rademacher", magnitudes="uniform")
    np.testing.assert_array_equal(same_truth.w_star, data.w_star)
    eq = make_sparse_regression(jax.random.PRNGKey(3), 5, 40, 5, magnitudes="equal")
    assert sorted(np.unique(np.asarray(eq.w_star))) == [0.0, 1.0]
    # population test loss = held-out loss in expectation (isotropic design)
    w = data.w_star + 0.1 * jax.random.normal(jax.random.PRNGKey(4), (40,))
    Xt = jax.random.rademacher(jax.random.PRNGKey(5), (200_000, 40), jnp.float64)
    np.testing.assert_allclose(heldout_test_loss(w, Xt, data.w_star), population_test_loss(w, data.w_star), rtol=0.02)


@pytest.mark.parametrize(
    "call,field",
    [
        (lambda: make_sparse_regression(jax.random.PRNGKey(0), 10, 5, 6), "kappa"),
        (lambda: make_sparse_regression(jax.random.PRNGKey(0), 0, 5, 2), "n"),
        (lambda: make_sparse_regression(jax.random.PRNGKey(0), 10, 5, 2, design="bernoulli"), "design"),
        (lambda: make_sparse_regression(jax.random.PRNGKey(0), 10, 5, 2, magnitudes="big"), "magnitudes"),
        (lambda: make_model("resnet"), "model"),
        (lambda: DiagonalNet(0), "dim"),
        (lambda: NoisyEllipse(-1.0, 1.0), "a, b"),
        (lambda: SquaredLossProblem(LinearModel(3), jnp.ones((4, 2)), jnp.ones(4)), "columns"),
        (lambda: SquaredLossProblem(LinearModel(3), jnp.ones((4, 3)), jnp.ones(5)), "y must have shape"),
        (lambda: SquaredLossProblem(LinearModel(3), jnp.ones(4), jnp.ones(4)), "X must be a matrix"),
    ],
)
def test_bad_input_names_the_field(call, field):
    with pytest.raises(ValueError, match=field):
        call()


@pytest.mark.parametrize("make", [lambda: models.DiagonalNet(2.5), lambda: models.DiagonalNet(True), lambda: models.DiagonalNet(0),
                                  lambda: models.LinearModel(3.0), lambda: models.DeepLinearNet((3, 2.5))])
def test_sizes_must_be_integers(make):
    with pytest.raises(ValueError, match=r"(dim|dims) must be an integer >= 1"):
        make()
