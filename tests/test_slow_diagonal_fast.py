"""The fast options of the stepped Adam flow (closed-form phase 1, batched extinctions, Cholesky with
reused factorizations, float32 Gram products, the per-instance compacting path) against the original
one-extinction-per-step stepper (`kill_floor=0, closed_form_phase1=False, linalg="eigh",
reuse_factor=False`), and the FAILED status on input it cannot integrate."""

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab import models
from implicit_bias_lab.sde.slow_diagonal import CONVERGED, FAILED, integrate_adam_flow_compact, integrate_adam_flow_stepped

OLD = dict(kill_floor=0.0, closed_form_phase1=False, linalg="eigh", reuse_factor=False)


def landing_point(d, n, kappa, seed):
    """GD from u = v = 1 to (numerically) Γ, float64."""
    data = models.make_sparse_regression(jax.random.PRNGKey(seed), n, d, kappa, "rademacher", "uniform")
    problem = models.SquaredLossProblem(models.DiagonalNet(d), data.X, data.y)
    step = jax.jit(lambda th: jax.lax.fori_loop(0, 3000, lambda _, t: t - 0.01 * problem.grad(t), th))
    return data, step(jnp.full((2 * d,), 1.0))


def flow(data, theta0, **kw):
    scale = float(jnp.max(theta0**2))
    return integrate_adam_flow_stepped(data.X, data.y, theta0, 100.0 * scale, dt_max=0.01 * scale, **kw)


def test_fast_options_reproduce_the_original_stepper():
    for i, (d, n, kappa, seed) in enumerate([(24, 8, 3, 0), (24, 8, 3, 1), (24, 8, 3, 2)]):  # one shape: one compilation per option set
        data, theta0 = landing_point(d, n, kappa, seed)
        old = flow(data, theta0, **OLD)
        exact = flow(data, theta0, kill_floor=0.0)  # closed-form phase 1 + Cholesky + reused factors
        fast = flow(data, theta0)  # the defaults: also kill_floor = 1e-3
        for res in (old, exact, fast):
            assert int(res.status) == CONVERGED
            assert float(res.max_residual) < 1e-10
        scale = float(jnp.max(jnp.abs(old.w)))
        np.testing.assert_allclose(exact.w, old.w, atol=1e-8 * scale)
        np.testing.assert_allclose(fast.w, old.w, atol=1e-3 * scale)
        assert int(fast.num_phases) <= int(old.num_phases)
        if i == 0:
            f32 = flow(data, theta0, gram_dtype=jnp.float32)
            np.testing.assert_allclose(f32.w, fast.w, atol=1e-8 * scale)  # refinement restores float64
            # the per-instance path (columns gathered into a block of 16 once ≤ 12 are alive)
            compact = integrate_adam_flow_compact(data.X, data.y, theta0, 100.0 * float(jnp.max(theta0**2)),
                                                  dt_max=0.01 * float(jnp.max(theta0**2)), min_columns=16)
            assert int(compact.status) == CONVERGED
            np.testing.assert_allclose(compact.w, fast.w, atol=1e-8 * scale)


def test_padded_rows_keep_cholesky_and_the_result():
    """The sweep zero-pads X, y to n_max rows (true rows scaled by √(n_max/n)): the padding rows get
    a unit diagonal, so the Gram stays Cholesky-factorable while the flow runs, and the flow is
    unchanged."""
    data, theta0 = landing_point(24, 8, 3, 0)
    ref = flow(data, theta0)
    padded = models.SparseRegressionData(jnp.pad(data.X, ((0, 4), (0, 0))) * jnp.sqrt(12 / 8), jnp.pad(data.y, (0, 4)) * jnp.sqrt(12 / 8), data.w_star)
    got = flow(padded, theta0)
    assert int(got.status) == CONVERGED
    np.testing.assert_allclose(got.w, ref.w, atol=1e-8)


def test_a_flow_that_cannot_continue_ends_failed():
    data, theta0 = landing_point(24, 8, 3, 0)
    bad_X = data.X.at[3, 5].set(jnp.nan)
    res = flow(models.SparseRegressionData(bad_X, data.y, data.w_star), theta0)
    assert int(res.status) == FAILED
    res = flow(data, theta0.at[7].set(jnp.inf))
    assert int(res.status) == FAILED
    # a Gram that loses rank while the flow runs (n > alive columns) with no fallback: FAILED, no NaN
    wide = models.make_sparse_regression(jax.random.PRNGKey(3), 30, 12, 2, "rademacher", "uniform")
    theta = jnp.full((24,), 1.0)
    res = integrate_adam_flow_stepped(wide.X, wide.X @ models.DiagonalNet(12).effective_weights(theta), theta, 10.0,
                                      dt_max=0.01, linalg="cholesky_strict", closed_form_phase1=False)
    assert int(res.status) == FAILED
    assert bool(jnp.all(jnp.isfinite(res.theta)))
