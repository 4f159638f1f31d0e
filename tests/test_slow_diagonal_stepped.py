"""The event-driven stepped Adam flow (the sweep route) against the event-located Diffrax solver."""

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab import models
from implicit_bias_lab.sde.slow_diagonal import CONVERGED, integrate_adam_flow, integrate_adam_flow_stepped


def landing_point(d, n, seed):
    data = models.make_sparse_regression(jax.random.PRNGKey(seed), n, d, 3, "rademacher", "uniform")
    problem = models.SquaredLossProblem(models.DiagonalNet(d), data.X, data.y)
    theta = jnp.full((2 * d,), 1.0)
    step = jax.jit(lambda th: th - 0.01 * problem.grad(th))
    for _ in range(3000):
        theta = step(theta)
    return data, theta


def test_stepped_adam_flow_matches_the_event_solver():
    data, theta0 = landing_point(24, 8, 0)
    assert float(jnp.max(jnp.abs(data.X @ models.DiagonalNet(24).effective_weights(theta0) - data.y))) < 1e-10
    ref = integrate_adam_flow(data.X, data.y, theta0, jnp.asarray(50.0))
    # dt_max = 0.01·max θ₀²: O(dt²) between extinctions
    got = integrate_adam_flow_stepped(data.X, data.y, theta0, 50.0, dt_max=0.01 * float(jnp.max(theta0**2)))
    assert int(ref.status) == CONVERGED and int(got.status) == CONVERGED
    np.testing.assert_allclose(got.w, ref.w, atol=1e-6)
    np.testing.assert_allclose(got.t, ref.t, rtol=2e-2)  # stationarity is detected at step resolution
    assert float(got.max_residual) < 1e-10  # the retraction keeps X(s_u − s_v) = y
    # mid-flow (after some extinctions) the paths agree too
    t_mid = jnp.asarray(0.7 * float(ref.t))
    ref_mid = integrate_adam_flow(data.X, data.y, theta0, t_mid)
    mid = integrate_adam_flow_stepped(data.X, data.y, theta0, t_mid, dt_max=0.01 * float(jnp.max(theta0**2)))
    np.testing.assert_allclose(mid.theta, ref_mid.theta, atol=1e-6)


def test_stepped_phase_one_is_exact():
    """While every u_i, v_i is alive ṡ = −1: θ_j² = θ_j(0)² − t (docs/theory.md#64-finite-time-extinction)."""
    data, theta0 = landing_point(12, 5, 1)
    t1 = 0.5 * float(jnp.min(theta0**2))
    got = integrate_adam_flow_stepped(data.X, data.y, theta0, t1, dt_max=0.05)
    np.testing.assert_allclose(got.theta**2, theta0**2 - t1, atol=1e-12)


def test_stepped_sgd_flow_matches_the_adaptive_solver():
    from implicit_bias_lab.sde.slow_diagonal import integrate_sgd_flow, integrate_sgd_flow_stepped

    data, theta0 = landing_point(24, 8, 2)
    c = 0.5
    t1 = 8.0  # 2c·t1 = 8 e-folds; RK4 with 2c·dt = 0.04
    ref = integrate_sgd_flow(data.X, data.y, theta0, jnp.asarray(t1), noise_scale=jnp.asarray(c), rtol=1e-10, atol=1e-12)
    got = integrate_sgd_flow_stepped(data.X, data.y, theta0, t1, noise_scale=c, num_steps=200)
    np.testing.assert_allclose(got.theta, ref.theta, atol=1e-6)
    assert float(got.max_residual) < 1e-10
    # a wrong rate (c/2) is visibly elsewhere: the comparison can fail
    half = integrate_sgd_flow_stepped(data.X, data.y, theta0, t1, noise_scale=c / 2, num_steps=200)
    assert float(jnp.max(jnp.abs(half.theta - ref.theta))) > 1e-3
