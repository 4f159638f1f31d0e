"""Shared test helpers. The tests run with JAX's float64 mode on, as the CLI and experiments do
(importing the lab itself leaves it off: tests/test_packaging.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_bias_lab import models
from implicit_bias_lab.precision import enable_x64

enable_x64()


def tree_allclose(a, b, *, rtol=0.0, atol=0.0) -> bool:
    """Same structure, same dtypes and shapes, and allclose leaf by leaf."""
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    if ta != tb:
        return False
    for x, y in zip(la, lb):
        x, y = jnp.asarray(x), jnp.asarray(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if not np.allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol):
            return False
    return True


def tree_equal(a, b) -> bool:
    """Bitwise equality of two pytrees of arrays."""
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    return ta == tb and all(
        jnp.asarray(x).dtype == jnp.asarray(y).dtype and np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(la, lb)
    )


@pytest.fixture
def small_diag_problem():
    """A diagonal net (d=4, n=3, Gaussian data) with labels from a random θ*, so θ* ∈ Γ."""
    net = models.DiagonalNet(4)
    kx, kt = jax.random.split(jax.random.PRNGKey(0))
    X = jax.random.normal(kx, (3, 4))
    theta_star = jax.random.normal(kt, (8,))
    problem = models.SquaredLossProblem(net, X, X @ net.effective_weights(theta_star))
    return problem, theta_star
