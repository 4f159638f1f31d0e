"""The fast options of the stepped Adam flow (closed-form phase 1, batched extinctions, Cholesky with
reused factorizations, float32 Gram products, the per-instance compacting path with its dual form)
against the original one-extinction-per-step stepper (`kill_floor=0, closed_form_phase1=False,
linalg="eigh", reuse_factor=False`), and the FAILED status on input it cannot integrate."""

import pytest

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab import models
from implicit_bias_lab.sde.slow_diagonal import (
    CONVERGED,
    FAILED,
    _full_column_rank,
    column_bucket,
    column_bucket_below,
    integrate_adam_flow_compact,
    integrate_adam_flow_stepped,
)

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


@pytest.mark.parametrize("d,n,kappa,seed,dual_reached", [(200, 30, 5, 3, True), (28, 9, 3, 1, False)])
def test_compact_route_equals_the_stepped_route(d, n, kappa, seed, dual_reached):
    """integrate_adam_flow_compact (alive columns gathered into blocks of `column_bucket`'s ladder
    from 16, zero rows dropped, the closed-form dual once the alive columns are independent) takes the
    same steps to the same end point as integrate_adam_flow_stepped over all columns. (200, 30): 5
    independent columns remain, the dual form ends the flow; (28, 9): when ≤ 9 columns are left they
    are dependent (equal ±1 columns), so the rank check keeps the primal form (the old unguarded
    `square_stop` stopped there too early)."""
    data, theta0 = landing_point(d, n, kappa, seed)
    ref = flow(data, theta0)
    scale = float(jnp.max(theta0**2))
    X_pad = jnp.pad(data.X, ((0, 7), (0, 0))) * jnp.sqrt((n + 7) / n)
    y_pad = jnp.pad(data.y, (0, 7)) * jnp.sqrt((n + 7) / n)
    got = integrate_adam_flow_compact(X_pad, y_pad, theta0, 100.0 * scale, dt_max=0.01 * scale, min_columns=16)
    assert int(got.status) == int(ref.status) == CONVERGED
    assert int(got.num_phases) == int(ref.num_phases)
    np.testing.assert_allclose(got.w, ref.w, atol=1e-12)
    np.testing.assert_allclose(got.t, ref.t, rtol=1e-12)
    if dual_reached:
        s_end = np.asarray(ref.theta != 0)
        cols = s_end[:d] | s_end[d:]
        assert cols.sum() <= n and bool(_full_column_rank(data.X, jnp.asarray(cols)))


def test_column_buckets():
    assert [column_bucket(c, 10_000, 128) for c in (1, 128, 129, 250, 257, 500, 5000, 9000)] == [128, 128, 192, 256, 384, 512, 6144, 10_000]
    assert [column_bucket_below(c, 128) for c in (128, 192, 10_000)] == [-1, 128, 8192]
    for c in range(1, 3000, 37):
        assert c <= column_bucket(c, 10**6, 128) <= max(128, 1.5 * c)


def test_sgd_compact_route_equals_the_stepped_route():
    """integrate_sgd_flow_compact (one instance: zero rows dropped, Cholesky with the eigh fallback,
    the Gram over the columns of weight u² + v² > 1e-16·max gathered into blocks from 16) against
    the vmapped route integrate_sgd_flow_stepped, on the sweep's padded and √(n_max/n)-scaled rows,
    at the sweep's budget (4× 8 e-folds, 100 RK4 steps): the same end point to rounding with
    negligible=0 and linalg="eigh", to 1e-10 with the defaults, which do shrink the block."""
    from implicit_bias_lab.sde import slow_diagonal as sd

    d, n = 200, 30
    data, theta0 = landing_point(d, n, 5, 3)
    c = 9.0 / n
    t1 = 4 * 8.0 / (2 * c)
    ref = sd.integrate_sgd_flow_stepped(data.X, data.y, theta0, t1, noise_scale=c, num_steps=100)
    X_pad = jnp.pad(data.X, ((0, 7), (0, 0))) * jnp.sqrt((n + 7) / n)
    y_pad = jnp.pad(data.y, (0, 7)) * jnp.sqrt((n + 7) / n)
    exact = sd.integrate_sgd_flow_compact(X_pad, y_pad, theta0, t1, noise_scale=c, num_steps=100, negligible=0.0, linalg="eigh")
    blocks = []
    real_chunk = sd._sgd_chunk
    try:  # record the block sizes the driver uses
        sd._sgd_chunk = lambda Xr, Xc, *a, **k: (blocks.append(Xc.shape), real_chunk(Xr, Xc, *a, **k))[1]
        fast = sd.integrate_sgd_flow_compact(X_pad, y_pad, theta0, t1, noise_scale=c, num_steps=100, min_columns=16)
    finally:
        sd._sgd_chunk = real_chunk
    scale = float(jnp.max(jnp.abs(ref.w)))
    for got in (exact, fast):
        assert int(got.status) == int(ref.status)
        # on the scaled rows; the end point's Gram is singular, so neither route's retraction gets below ~1e-6
        assert float(got.max_residual) <= 1.2 * float(ref.max_residual) + 1e-12
    np.testing.assert_allclose(exact.theta, ref.theta, atol=1e-11, rtol=0)
    np.testing.assert_allclose(fast.theta, ref.theta, atol=1e-10, rtol=0)
    np.testing.assert_allclose(fast.w, ref.w, atol=1e-12 * scale, rtol=0)
    assert blocks[0] == (n, d) and blocks[-1][1] < d  # the padding rows dropped, the block shrunk
    bad = sd.integrate_sgd_flow_compact(data.X.at[3, 5].set(jnp.nan), data.y, theta0, t1, noise_scale=c, num_steps=8)
    assert int(bad.status) == FAILED


def test_pcg_with_a_nearby_factor_solves_to_its_tolerance():
    """sde.slow_diagonal._pcg on K'x = b, K' = X Diag(k')Xᵀ, preconditioned with the Cholesky factor of
    K = X Diag(k)Xᵀ at nearby weights (k' = k·e^{±0.2}): converged to the relative residual asked in
    a few iterations (the preconditioned spectrum lies in [e^{−0.2}, e^{0.2}]), equal to the direct
    solve; with one iteration allowed it reports failure; with the exact factor it needs none."""
    from implicit_bias_lab.sde.slow_diagonal import _cholesky_full, _pcg

    rng = np.random.default_rng(0)
    n, d = 40, 400
    X = jnp.asarray(rng.choice([-1.0, 1.0], (n, d)))
    k = jnp.asarray(rng.uniform(0.1, 2.0, d))
    k2 = k * jnp.exp(jnp.asarray(rng.uniform(-0.2, 0.2, d)))
    b = jnp.asarray(rng.normal(size=n))
    L, full = _cholesky_full((X * k) @ X.T, 1e-10)
    assert bool(full)
    x, ok, its = _pcg(lambda q: X @ (k2 * (X.T @ q)), b, L, 1e-13, 32)
    direct = jnp.linalg.solve((X * k2) @ X.T, b)
    assert bool(ok) and 2 <= int(its) <= 15
    np.testing.assert_allclose(x, direct, rtol=1e-10, atol=1e-12 * float(jnp.max(jnp.abs(direct))))
    _, ok1, its1 = _pcg(lambda q: X @ (k2 * (X.T @ q)), b, L, 1e-13, 1)
    assert not bool(ok1) and int(its1) == 1
    _, ok0, its0 = _pcg(lambda q: X @ (k * (X.T @ q)), b, L, 1e-13, 32)
    assert bool(ok0) and int(its0) == 0
    # a rank-deficient Gram is reported as such (the callers then solve each stage directly)
    assert not bool(_cholesky_full((X[:, :20] * k[:20]) @ X[:, :20].T, 1e-10)[1])


def test_sgd_step_factor_equals_stage_grams():
    """The SGD flow's per-instance RK4 with factor="step" (one Gram per step; stages 2–4 by PCG with
    its factor) takes the stage-Gram steps to the PCG tolerance, on a block with all columns and on
    a gathered one; with no PCG iteration allowed, every stage 2–4 falls back to its own Gram and
    the steps are the stage-Gram steps to rounding. A stale factor used as the solve (no PCG)
    would be off by O(dt) and fail these."""
    from implicit_bias_lab.sde import slow_diagonal as sd

    d, n = 200, 30
    data, theta0 = landing_point(d, n, 5, 3)
    c, dt = 9.0 / n, 1.0
    mm = jnp.concatenate([sd.second_moments(data.X)] * 2)
    opts = sd._stepped_options(False, "cholesky", False, None, 0, 1e-10, 1e-12)
    for keep in (np.arange(d), np.arange(0, d, 2)):
        Xc = data.X[:, keep]
        off = np.setdiff1d(np.arange(d), keep)
        theta = theta0.at[off].set(0.0).at[d + off].set(0.0)  # the columns outside the block are zero
        run = {name: sd._sgd_chunk(data.X, Xc, jnp.asarray(keep), mm, theta, dt, jnp.asarray(20), c, o)
               for name, o in (("stage", opts), ("step", opts._replace(factor="step")),
                               ("fallback", opts._replace(factor="step", cg_maxiter=0)))}
        ref, moved = run["stage"][0], float(jnp.max(jnp.abs(run["stage"][0] - theta)))
        assert all(bool(r[1]) for r in run.values()) and moved > 0.05
        np.testing.assert_allclose(run["step"][0], ref, atol=1e-10, rtol=0)  # PCG to 1e-13 relative residual, 60 solves
        np.testing.assert_allclose(run["fallback"][0], ref, atol=1e-14, rtol=0)
    # the public route: "step" takes the "stage" steps to the PCG tolerance; "auto" chooses "step" from
    # STEP_FACTOR_MIN_ROWS rows on, on blocks of at least twice as many columns as rows
    t1, kw = 4 * 8.0 / (2 * c), dict(noise_scale=c, num_steps=100, min_columns=16)
    ends = {f: sd.integrate_sgd_flow_compact(data.X, data.y, theta0, t1, factor=f, **kw) for f in ("stage", "step")}
    np.testing.assert_allclose(ends["step"].theta, ends["stage"].theta, atol=1e-10, rtol=0)
    chosen, real_chunk, real_rows = {}, sd._sgd_chunk, sd.STEP_FACTOR_MIN_ROWS
    try:
        for rows in (n, n + 1):
            sd._sgd_chunk = lambda Xr, Xc, *a, rows=rows: (chosen.setdefault(rows, set()).add((Xc.shape[1] >= 2 * n, a[-1].factor)),
                                                            real_chunk(Xr, Xc, *a))[1]
            sd.STEP_FACTOR_MIN_ROWS = rows
            auto = sd.integrate_sgd_flow_compact(data.X, data.y, theta0, t1, **kw)
            np.testing.assert_allclose(auto.theta, ends["stage"].theta, atol=1e-10, rtol=0)
    finally:
        sd._sgd_chunk, sd.STEP_FACTOR_MIN_ROWS = real_chunk, real_rows
    assert chosen[n] == {(True, "step")} and chosen[n + 1] == {(True, "stage")}  # every block here has C ≥ 2n
    with pytest.raises(ValueError, match="factor"):
        sd.integrate_sgd_flow_compact(data.X, data.y, theta0, 1.0, noise_scale=c, num_steps=4, factor="cg")
