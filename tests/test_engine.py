"""The discrete engine: determinism under batching, divergence flags, the implicit bias."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tree_equal

from implicit_bias_lab.models import DiagonalNet, SquaredLossProblem, make_sparse_regression
from implicit_bias_lab.models.metrics import standard_metrics
from implicit_bias_lab.sde.discrete import RunStatus, adam, sgd, simulate, simulate_runs
from implicit_bias_lab.sde.discrete.simulate import make_runner

LOSS = {"loss": lambda p, th: p.loss(th)}
from implicit_bias_lab.sde.noise import LabelNoise, NoNoise


def sparse_problem(n=8, d=16, dtype=jnp.float32):
    data = make_sparse_regression(jax.random.PRNGKey(0), n, d, 2, design="rademacher", dtype=dtype)
    return SquaredLossProblem(DiagonalNet(d), data.X, data.y)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_bitwise_same_result_whatever_the_batching(dtype):
    problem = sparse_problem(dtype=dtype)
    runs = 11
    theta0 = 0.3 + 0.1 * jax.random.normal(jax.random.PRNGKey(1), (runs, problem.num_params), dtype)
    keys = jax.random.split(jax.random.PRNGKey(2), runs)
    runner = make_runner(LabelNoise(0.5), adam(0.01, bias_correction=False), num_steps=200, log_every=50, metrics=LOSS, block_size=4)
    together = runner(problem, theta0, keys)
    one_by_one = [runner(problem, theta0[i : i + 1], keys[i : i + 1]) for i in range(runs)]
    chunks = [runner(problem, theta0[i : i + 3], keys[i : i + 3]) for i in range(0, runs, 3)]
    for parts in (one_by_one, chunks):
        joined = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *parts)
        assert tree_equal(joined, together)
    assert together.theta.dtype == dtype
    # and the runs really differ (keys matter)
    assert not np.array_equal(together.theta[0], together.theta[1])


def test_step_reports_leave_the_runs_bitwise_unchanged():
    """`on_steps` (the progress hook) is called every `report_every` steps once per block of runs,
    and the runs are bitwise those without it."""
    problem = sparse_problem()
    runs = 6
    theta0 = 0.3 + 0.1 * jax.random.normal(jax.random.PRNGKey(1), (runs, problem.num_params))
    keys = jax.random.split(jax.random.PRNGKey(2), runs)
    calls = []
    kw = dict(num_steps=200, log_every=50, metrics=LOSS, block_size=4)
    plain = make_runner(LabelNoise(0.5), adam(0.01, bias_correction=False), **kw)(problem, theta0, keys)
    reported = make_runner(LabelNoise(0.5), adam(0.01, bias_correction=False), on_steps=calls.append, report_every=40, **kw)(problem, theta0, keys)
    jax.block_until_ready(reported.theta)
    jax.effects_barrier()
    assert tree_equal(plain, reported)
    assert calls == [40] * (200 // 40) * 2  # 2 blocks of 4 runs (6 padded to 8), 5 reports each


def test_split_run_equals_one_long_run():
    problem = sparse_problem(dtype=jnp.float64)
    theta0 = jnp.full((problem.num_params,), 0.3)
    key = jax.random.PRNGKey(3)
    opt = sgd(0.02, 0.5)
    kw = dict(log_every=10, metrics=LOSS)
    whole = jax.jit(lambda: simulate(problem, LabelNoise(0.4), opt, theta0, key, num_steps=100, **kw))()
    first = simulate(problem, LabelNoise(0.4), opt, theta0, key, num_steps=40, **kw)
    second = simulate(problem, LabelNoise(0.4), opt, first.theta, key, num_steps=60, opt_state0=first.opt_state, start_step=40, **kw)
    np.testing.assert_allclose(second.theta, whole.theta, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(second.log_steps, whole.log_steps[4:])


def test_divergence_is_flagged_per_run_and_never_poisons_the_batch():
    problem = sparse_problem(dtype=jnp.float64)
    theta0 = jnp.tile(jnp.full((problem.num_params,), 0.5), (3, 1))
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    res = simulate_runs(
        problem, NoNoise(), sgd, theta0, keys, num_steps=200, log_every=20,
        metrics=LOSS, hyperparameters={"learning_rate": jnp.array([0.01, 5.0, 0.02])},
    )
    assert list(map(int, res.status)) == [RunStatus.OK, RunStatus.DIVERGED, RunStatus.OK]
    assert int(res.stopped_step[1]) >= 0 and int(res.stopped_step[0]) == -1
    assert np.all(np.isfinite(res.logs["loss"])) and np.all(np.isfinite(res.theta))
    res_nan = simulate_runs(
        problem, NoNoise(), sgd, theta0, keys, num_steps=200, log_every=20,
        hyperparameters={"learning_rate": jnp.array([0.01, 5.0, 0.02])}, divergence_threshold=jnp.inf,
    )
    assert int(res_nan.status[1]) == RunStatus.NONFINITE and np.all(np.isfinite(res_nan.theta))


def test_label_noise_gd_lowers_trace_hessian_along_the_manifold_and_gd_does_not():
    """LWA 2022: label-noise GD drifts along Γ and lowers tr H; plain GD stays where it landed.

    d=10, n=5, ±1 data, start on Γ (plain GD limit from u = v = 1), η = 0.05, δ = 1 ⇒ c = δ²/n = 0.2,
    10⁵ steps = slow time T = η²k = 250: the slow flow shrinks tr H a lot (off-support coordinates
    decay like e^{−2ct}); we only require a 30 % drop and a loss that stays near 0.
    """
    d, n = 10, 5
    problem = sparse_problem(n, d, jnp.float64)
    net = problem.model
    start = simulate(problem, NoNoise(), sgd(0.05), net.initial_params(1.0), jax.random.PRNGKey(0), num_steps=20_000, log_every=20_000)
    theta_gamma = start.theta
    assert float(problem.loss(theta_gamma)) < 1e-20
    metrics = standard_metrics()
    run = jax.jit(lambda noise: simulate(problem, noise, sgd(0.05), theta_gamma, jax.random.PRNGKey(1), num_steps=100_000, log_every=10_000, metrics=metrics))
    noisy, plain = run(LabelNoise(1.0)), run(LabelNoise(0.0))
    tr0 = float(net.trace_hessian_on_manifold(theta_gamma, problem.X))
    assert float(noisy.logs["trace_hessian"][-1]) < 0.7 * tr0
    assert np.all(np.diff(np.asarray(noisy.logs["trace_hessian"])) < 0.05 * tr0)  # steadily down
    assert float(noisy.logs["train_loss"].max()) < 0.05  # stays near Γ (loss fluctuates at O(η))
    assert float(noisy.logs["distance_to_manifold"][-1]) < 0.2
    np.testing.assert_allclose(plain.logs["trace_hessian"], tr0, rtol=1e-9)
    assert int(noisy.status) == RunStatus.OK


def test_bad_engine_input_is_rejected_before_compiling():
    problem = sparse_problem()
    theta0 = jnp.zeros((2, problem.num_params), jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    with pytest.raises(ValueError, match="log_every"):
        simulate_runs(problem, NoNoise(), sgd(0.1), theta0, keys, num_steps=10, log_every=3)
    with pytest.raises(ValueError, match="num_steps"):
        simulate_runs(problem, NoNoise(), sgd(0.1), theta0, keys, num_steps=0, log_every=1)
    with pytest.raises(ValueError, match="theta0"):
        simulate_runs(problem, NoNoise(), sgd(0.1), theta0[:, :5], keys, num_steps=10, log_every=5)
    with pytest.raises(ValueError, match="keys"):
        simulate_runs(problem, NoNoise(), sgd(0.1), theta0, keys[:1], num_steps=10, log_every=5)
    with pytest.raises(ValueError, match="batch_size"):
        simulate_runs(problem, LabelNoise(0.1, batch_size=100), sgd(0.1), theta0, keys, num_steps=10, log_every=5)
    with pytest.raises(ValueError, match="block_size"):
        simulate_runs(problem, NoNoise(), sgd(0.1), theta0, keys, num_steps=10, log_every=5, block_size=0)


def test_runs_side_by_side_equal_separate_runs_and_freeze_alone():
    """`make_group_runner`: SGD and Adam advanced in one scan on each run's problem (products
    X·[w_sgd, w_adam]) equal the separate `make_runner` runs with the same keys up to the
    summation order (float64: 1e-10 of max |θ|), logs, statuses and stop steps included; a member
    that diverges (run 0's SGD, η = 40) is frozen and flagged alone, its Adam partner unharmed; a
    model not linear in x takes the vmapped fallback of `labelled_gradients` to the same runs."""
    from implicit_bias_lab.models import FunctionModel
    from implicit_bias_lab.sde.discrete.simulate import make_group_runner

    problem = sparse_problem(dtype=jnp.float64)
    runs = 3
    theta0 = 0.3 + 0.1 * jax.random.normal(jax.random.PRNGKey(1), (runs, problem.num_params), jnp.float64)
    keys = jax.random.split(jax.random.PRNGKey(2), 2 * runs).reshape(runs, 2, 2)
    factories = [lambda learning_rate: sgd(learning_rate), lambda learning_rate: adam(learning_rate, bias_correction=False)]
    hyper = [{"learning_rate": jnp.asarray([40.0, 0.05, 0.05])}, {"learning_rate": jnp.full(runs, 0.01)}]
    kw = dict(num_steps=200, log_every=50, metrics=LOSS, block_size=2, per_run_hyperparameters=True)
    group = make_group_runner(LabelNoise(0.5), factories, **kw)(problem, jnp.stack([theta0, theta0], axis=1), keys, hyper)
    for i, factory in enumerate(factories):
        alone = make_runner(LabelNoise(0.5), factory, **kw)(problem, theta0, keys[:, i], hyper[i])
        np.testing.assert_array_equal(group[i].status, alone.status)
        np.testing.assert_array_equal(group[i].stopped_step, alone.stopped_step)
        for r in range(runs):  # each run against its own scale (run 0's SGD stopped far out)
            np.testing.assert_allclose(group[i].theta[r], alone.theta[r], rtol=0, atol=1e-10 * float(np.max(np.abs(alone.theta[r]))))
        np.testing.assert_allclose(group[i].logs["loss"], alone.logs["loss"], rtol=1e-9)
    assert int(group[0].status[0]) in (RunStatus.DIVERGED, RunStatus.NONFINITE)
    assert list(np.asarray(group[0].status[1:])) == [RunStatus.OK] * 2 and list(np.asarray(group[1].status)) == [RunStatus.OK] * 3
    general = SquaredLossProblem(FunctionModel(lambda th, x: jnp.dot(th[:16] ** 2 - th[16:] ** 2, x), 16), problem.X, problem.y)
    fallback = make_group_runner(LabelNoise(0.5), factories, **kw)(general, jnp.stack([theta0, theta0], axis=1), keys, hyper)
    for a, b in zip(fallback, group):
        np.testing.assert_array_equal(a.status, b.status)
        for r in range(runs):
            np.testing.assert_allclose(a.theta[r], b.theta[r], rtol=0, atol=1e-10 * float(np.max(np.abs(b.theta[r]))))
