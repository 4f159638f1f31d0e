"""Adam's diagonal-net slow flow with v as a state (sde.slow_diagonal_state), float64.

Routes compared: the log-form velocity against the θ-form oblique projection of sde.slow_diagonal
(any v, ε > 0, AdamE exponent); the integrated (ℓ, p) flow against the general joint (ζ, v) flow of
sde.slow.integrate_slow_flow on the loss function (Hessians by autodiff); its c₂ → ∞ limit against
the quasi-static phase-1 closed form θ_j² = θ_j(0)² − t; the per-instance route (alive columns
gathered, Cholesky, the dual form on independent columns) against the vmappable one.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from implicit_bias_lab import models
from implicit_bias_lab.sde import slow
from implicit_bias_lab.sde import slow_diagonal as sd
from implicit_bias_lab.sde import slow_diagonal_state as sd_state
from implicit_bias_lab.sde.slow_diagonal_state import (
    _block_chunk as block_chunk,
    _block_log_velocity,
    STIFF,
    _SegmentOptions,
    adam_state_log_velocity,
    integrate_adam_state_flow,
    integrate_adam_state_flow_compact,
)


def instance(seed=0, n=3, d=5):
    """θ on Γ (labels y := Xw(θ)) with every |θ_j| in [0.4, 1.4] and random signs."""
    rng = np.random.default_rng(seed)
    X = jnp.asarray(rng.choice([-1.0, 1.0], (n, d)))
    theta = jnp.asarray(rng.uniform(0.4, 1.4, 2 * d) * rng.choice([-1.0, 1.0], 2 * d))
    return X, X @ sd.effective_weights(theta), theta


@pytest.mark.parametrize("eps,power", [(0.0, 0.5), (0.05, 0.5), (0.01, 0.25)])
def test_log_velocity_is_the_oblique_projection(eps, power):
    X, _, theta = instance()
    c, c2 = 0.7, 5.0
    v = sd.adam_fixed_point_v(X, theta, c) * jnp.exp(0.4 * jax.random.normal(jax.random.PRNGKey(1), theta.shape))
    dell, dp = adam_state_log_velocity(X, jnp.log(jnp.abs(theta)), jnp.log(v), c, c2, eps, power)
    expected = sd.adam_flow_velocity(X, theta, c, v=v, eps=eps, power=power)
    np.testing.assert_allclose(theta * dell, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(v * dp, c2 * (sd.adam_fixed_point_v(X, theta, c) - v), rtol=1e-10)


def test_integrated_flow_matches_the_general_joint_flow():
    X, y, theta = instance(seed=2)
    c, c2, t1 = 0.5, 5.0, 0.05  # short enough that every coordinate stays alive
    v0 = 1.5 * sd.adam_fixed_point_v(X, theta, c)  # off its fixed point: v relaxes
    ours = integrate_adam_state_flow(X, y, theta, t1, noise_scale=c, c2=c2, v0=v0, rtol=1e-10, atol=1e-12)
    prob = models.SquaredLossProblem(models.DiagonalNet(X.shape[1]), X, y)
    ref = slow.integrate_slow_flow(prob.loss, theta, t1, noise_scale=c, optimizer="adam", c2=c2, v0=v0, num_saves=3)
    moved = float(jnp.max(jnp.abs(ref.path[-1] - theta)))
    assert moved > 1e-3  # the comparison is not vacuous
    np.testing.assert_allclose(ours.theta, ref.path[-1], atol=1e-6 * max(moved, 1.0))
    np.testing.assert_allclose(ours.v, ref.v[-1], rtol=1e-6)
    assert float(ours.max_residual) < 1e-10


def test_large_c2_follows_the_quasi_static_phase1_closed_form():
    """θ_j² = θ_j(0)² − t while every coordinate lives (quasi-static, ε = 0); v lags by ~1/c₂."""
    X, y, theta = instance(seed=3)
    t1 = 0.5 * float(jnp.min(theta * theta))
    errs = []
    for c2 in (200.0, 800.0):
        res = integrate_adam_state_flow(X, y, theta, t1, noise_scale=0.3, c2=c2, rtol=1e-9, atol=1e-12)
        errs.append(float(jnp.max(jnp.abs(res.theta**2 - (theta**2 - t1)))))
    assert errs[1] < 1e-2 * t1
    assert 2.5 < errs[0] / errs[1] < 6  # error ∝ 1/c₂


def test_collapse_is_slower_than_quasi_static_and_the_flow_stays_on_the_manifold():
    """With v lagging, S = 1/√v is smaller than the quasi-static 1/√(c diag H) while a coordinate
    shrinks, so the collapse that the closure finishes at t = θ_j(0)² is not finished there."""
    X, y, theta = instance(seed=4)
    j = int(jnp.argmin(jnp.abs(theta)))
    t1 = float(theta[j] ** 2)
    res = integrate_adam_state_flow(X, y, theta, t1, noise_scale=0.3, c2=5.0)
    assert float(jnp.abs(res.theta[j])) > 0.05 * float(jnp.abs(theta[j]))
    assert float(res.max_residual) < 1e-9
    assert int(res.status) == sd.MAX_TIME


def test_non_finite_start_is_flagged_failed():
    X, y, theta = instance()
    res = integrate_adam_state_flow(X, y, theta.at[0].set(jnp.nan), 0.1, noise_scale=0.5, c2=5.0)
    assert int(res.status) == sd.FAILED


def test_unknown_solver_is_rejected():
    X, y, theta = instance()
    with pytest.raises(ValueError, match="solver"):
        integrate_adam_state_flow(X, y, theta, 0.1, noise_scale=0.5, c2=5.0, solver="euler")


def landing_point(d, n, kappa, seed):
    """GD from u = v = 1 to (numerically) Γ, float64."""
    data = models.make_sparse_regression(jax.random.PRNGKey(seed), n, d, kappa, "rademacher", "uniform")
    problem = models.SquaredLossProblem(models.DiagonalNet(d), data.X, data.y)
    step = jax.jit(lambda th: jax.lax.fori_loop(0, 3000, lambda _, t: t - 0.01 * problem.grad(t), th))
    return data, step(jnp.full((2 * d,), 1.0))


@pytest.mark.parametrize(
    "options,same_steps",
    [(dict(negligible=0.0), True), (dict(negligible=0.0, dual=False, linalg="eigh", chunk_steps=5), True), (dict(), False)],
)
def test_gathered_route_equals_the_vmapped_route(options, same_steps):
    """integrate_adam_state_flow_compact with blocks of 16–200 columns (min_columns = 16; 200 → 5 alive
    columns here, the last segments in the dual form), its solves cut into resumed chunks, zero-padded
    rows (the sweep's layout) dropped: with nothing frozen as negligible it takes the same steps to
    the same end point as integrate_adam_state_flow over all d columns; with the default freezing
    of negligible collapsed columns, fewer steps to the same end point."""
    data, theta0 = landing_point(200, 30, 5, 3)
    kw = dict(noise_scale=0.3, c2=5.0)
    ref = integrate_adam_state_flow(data.X, data.y, theta0, 7.5, **kw)
    X_pad = jnp.pad(data.X, ((0, 10), (0, 0))) * jnp.sqrt(40 / 30)
    y_pad = jnp.pad(data.y, (0, 10)) * jnp.sqrt(40 / 30)
    got = integrate_adam_state_flow_compact(X_pad, y_pad, theta0, 7.5, min_columns=16, **kw, **options)
    alive = np.asarray(ref.theta != 0)
    cols = alive[:200] | alive[200:]
    assert 0 < cols.sum() <= 30 and bool(sd._full_column_rank(data.X, jnp.asarray(cols)))  # the dual form was reachable
    assert int(got.status) == int(ref.status) == sd.MAX_TIME
    if same_steps:
        assert int(got.num_steps) == int(ref.num_steps)  # the error norm is the RMS over the whole state
    else:
        assert int(got.num_steps) <= int(ref.num_steps)
    np.testing.assert_array_equal(got.theta != 0, ref.theta != 0)
    np.testing.assert_allclose(got.theta, ref.theta, atol=1e-12)
    np.testing.assert_allclose(got.v, ref.v, rtol=1e-8 if same_steps else 1e-5)
    assert float(got.max_residual) < 1e-10


def test_dual_velocity_equals_the_primal_one_on_independent_columns():
    """On linearly independent columns X_Aᵀ(X_A D X_Aᵀ)⁺X_A = D⁻¹: the velocity needs no solve, and
    a column with one alive member is stationary in ℓ."""
    X, _, theta = instance(seed=5, n=8, d=5)
    assert bool(sd._full_column_rank(X, jnp.ones(5, bool)))
    alive = jnp.ones(10, bool).at[7].set(False)  # column 2 keeps only u_2
    c, c2 = 0.4, 5.0
    p = jnp.log(sd.adam_fixed_point_v(X, theta, c)) + 0.3 * jax.random.normal(jax.random.PRNGKey(2), theta.shape)
    ell = jnp.log(jnp.abs(theta))
    mm = jnp.concatenate([sd.second_moments(X)] * 2)
    for eps, power in [(0.0, 0.5), (0.05, 0.25)]:
        out = {form: _block_log_velocity(X, mm, ell, p, alive, c, c2, eps, power, _SegmentOptions("tsit5", 1e-6, 1e-8, 16, form, "eigh", 1e-10, 20))
               for form in ("primal", "dual")}
        np.testing.assert_allclose(out["dual"][0], out["primal"][0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(out["dual"][1], out["primal"][1], rtol=1e-12)
        assert abs(float(out["dual"][0][2])) < 1e-12 and float(out["dual"][0][7]) == 0.0
        np.testing.assert_allclose(out["primal"][0], adam_state_log_velocity(X, ell, p, c, c2, eps, power, alive)[0], rtol=1e-9, atol=1e-12)
    # equal ±1 columns are not independent: the route keeps the primal form there
    assert not bool(sd._full_column_rank(X.at[:, 1].set(X[:, 0]), jnp.ones(5, bool)))


def test_a_segment_out_of_steps_is_redone_in_halves(monkeypatch):
    """integrate_adam_state_flow_compact's max_splits: with a step budget too small for a whole
    segment, the flow without splits stops STIFF before t1, and with splits redoes that segment as
    halves from its start and reaches t1 at the unsplit flow's end point (here no alive-set decision
    moves: to rounding); with a budget that suffices, splitting changes nothing, bit for bit."""
    data, theta0 = landing_point(200, 30, 5, 3)
    kw = dict(noise_scale=0.3, c2=5.0, min_columns=16, chunk_steps=8)
    ref = integrate_adam_state_flow_compact(data.X, data.y, theta0, 7.5, **kw)
    stuck = integrate_adam_state_flow_compact(data.X, data.y, theta0, 7.5, max_steps_per_segment=16, max_splits=0, **kw)
    halved = integrate_adam_state_flow_compact(data.X, data.y, theta0, 7.5, max_steps_per_segment=16, **kw)
    assert int(ref.status) == int(halved.status) == sd.MAX_TIME and float(halved.t) == 7.5
    assert int(stuck.status) == STIFF and float(stuck.t) < 7.5
    np.testing.assert_allclose(halved.theta, ref.theta, atol=1e-12)
    assert float(halved.max_residual) < 1e-12
    # reuse (the default): the first half starts from the whole's last chunk boundary whose steps it
    # shares; redoing those chunks (reuse=False) gives bitwise the same flow, with more chunks
    calls = {True: 0, False: 0}
    for reuse in (True, False):
        def spy(*a, _reuse=reuse, **k):
            calls[_reuse] += 1
            return block_chunk(*a, **k)

        monkeypatch.setattr(sd_state, "_block_chunk", spy)
        again = integrate_adam_state_flow_compact(data.X, data.y, theta0, 7.5, max_steps_per_segment=16, reuse=reuse, **kw)
        for a, b in zip(again, halved):
            np.testing.assert_array_equal(a, b)
    assert calls[True] < calls[False]
    once = integrate_adam_state_flow_compact(data.X, data.y, theta0, 7.5, max_steps_per_segment=48, max_splits=0, **kw)
    np.testing.assert_array_equal(once.theta, ref.theta)
    for bad in (-1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="max_splits"):
            integrate_adam_state_flow_compact(data.X, data.y, theta0, 7.5, max_splits=bad, **kw)
