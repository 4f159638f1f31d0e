"""`sde.integrators`: the classical RK4 step and its fixed-step solve (float64, via conftest).

* dy/dt = Ay (A a rotation plus damping): the error at t = 1 falls as h⁴ (log-log slope 4 ± 0.2),
  and one step equals the degree-4 Taylor polynomial of exp(hA) (what the classical tableau is);
* pytrees: a (vector, scalar) state integrates leaf by leaf, as the same system stacked;
* the two callers agree: `paper_checks.claims._util.rk4` and the last entry of the demos' `rk4_path`
  are bitwise the end point of `rk4`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy.linalg import expm

from implicit_bias_lab.sde.integrators import rk4, rk4_step


A = jnp.array([[-0.3, 2.0], [-2.0, -0.1]], jnp.float64)
Y0 = jnp.array([1.0, -0.5], jnp.float64)


def linear(y):
    return A @ y


def test_one_step_is_the_taylor_polynomial():
    h = 0.1
    hA = h * A
    taylor = sum(np.linalg.matrix_power(np.asarray(hA), k) / math.factorial(k) for k in range(5))
    np.testing.assert_allclose(rk4_step(linear, Y0, h), taylor @ np.asarray(Y0), rtol=0, atol=1e-15)


def test_fourth_order_convergence():
    exact = expm(A) @ Y0
    steps = np.array([10, 20, 40, 80])
    errors = [float(jnp.linalg.norm(rk4(linear, Y0, 1.0, int(n)) - exact)) for n in steps]
    slope = np.polyfit(np.log(1.0 / steps), np.log(errors), 1)[0]
    assert abs(slope - 4.0) < 0.2, (errors, slope)
    assert errors[-1] < 1e-8


def test_pytree_state():
    def field(y):
        x, s = y
        return A @ x, -0.5 * s

    x1, s1 = rk4(field, (Y0, jnp.asarray(2.0)), 0.7, 50)
    stacked = rk4(lambda z: jnp.concatenate([A @ z[:2], -0.5 * z[2:]]), jnp.concatenate([Y0, jnp.array([2.0])]), 0.7, 50)
    np.testing.assert_allclose(x1, stacked[:2], rtol=0, atol=1e-15)
    np.testing.assert_allclose(s1, stacked[2], rtol=0, atol=1e-15)
    np.testing.assert_allclose(s1, 2.0 * np.exp(-0.35), rtol=1e-9)


def test_callers_use_the_same_scheme():
    from implicit_bias_lab.experiments.demos.common import rk4_path
    from implicit_bias_lab.paper_checks.claims._util import rk4 as claims_rk4

    end = jax.jit(lambda y: rk4(linear, y, 1.0, 40))(Y0)
    np.testing.assert_array_equal(claims_rk4(linear, Y0, 1.0, 40), end)
    path = jax.jit(lambda y: rk4_path(linear, y, 1.0 / 40, 10, 4))(Y0)
    assert path.shape == (5, 2)
    np.testing.assert_array_equal(path[0], Y0)
    np.testing.assert_allclose(path[-1], end, rtol=0, atol=1e-15)


def test_rejects_no_steps():
    with pytest.raises(ValueError, match="num_steps"):
        rk4(linear, Y0, 1.0, 0)


def test_unrolled_stages_and_aux():
    """The inline stages compute the same step as the scanned ones (to rounding), and `has_aux`
    returns each stage's auxiliary output in stage order: here the stage's input, whose first entry
    at stages 2–4 is y₀ + (½h, ½h, h)·k₁₋₃ — a wrong node would show."""
    h = 0.1
    step = rk4_step(linear, Y0, h)
    np.testing.assert_allclose(rk4_step(linear, Y0, h, unrolled=True), step, rtol=0, atol=1e-15)
    for unrolled in (False, True):
        y1, seen = rk4_step(lambda y: (linear(y), y), Y0, h, has_aux=True, unrolled=unrolled)
        np.testing.assert_allclose(y1, step, rtol=0, atol=1e-15)
        assert seen.shape == (4, 2)
        k1 = linear(Y0)
        k2 = linear(Y0 + 0.5 * h * k1)
        k3 = linear(Y0 + 0.5 * h * k2)
        np.testing.assert_allclose(seen, jnp.stack([Y0, Y0 + 0.5 * h * k1, Y0 + 0.5 * h * k2, Y0 + h * k3]), rtol=0, atol=1e-15)
