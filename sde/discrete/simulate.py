"""The discrete engine: `lax.scan` over optimizer steps, noise keyed by the integer step.

Step k of a run draws its noise from `fold_in(key, k)` (k the global step index), so a run's path
does not depend on how runs are batched or how a long run is split into pieces (`start_step`).
Metrics are logged every `log_every` steps (and at the start) without storing the trajectory.
A run whose parameters become non-finite, or exceed `divergence_threshold` in absolute value,
is frozen at its last good state and flagged, so one bad run never turns an aggregate into NaN.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax import Array

from implicit_bias_lab.models.base import AbstractProblem
from implicit_bias_lab.sde.batching import blocked_vmap
from implicit_bias_lab.sde.noise import AbstractNoise
from implicit_bias_lab.sde.scan import guard, logged_scan
from implicit_bias_lab.sde.status import RunStatus  # noqa: F401  (re-exported by sde.discrete)

Metric = Callable[[AbstractProblem, Array], Array]
"""A logged quantity `metric(problem, theta)`; it receives the run's own (dtype-cast) problem."""


class Simulation(NamedTuple):
    """Result of `simulate` (one run) or `simulate_runs` (leading runs axis on every field)."""

    theta: Array
    opt_state: Any
    log_steps: Array
    logs: dict[str, Array]
    status: Array
    stopped_step: Array


def cast_floats(tree: Any, dtype) -> Any:
    """Cast every floating-point array leaf of `tree` to `dtype`."""

    def cast(leaf):
        if eqx.is_array(leaf) and jnp.issubdtype(leaf.dtype, jnp.floating):
            return leaf.astype(dtype)
        return leaf

    return jax.tree_util.tree_map(cast, tree)


def in_dtype(problem: Any, dtype) -> Any:
    """The problem a run computes with: `problem.astype(dtype)` for an `AbstractProblem` (which
    may keep narrow stored data narrow, `models.base.NarrowDesignProblem`), else `cast_floats`."""
    return problem.astype(dtype) if isinstance(problem, AbstractProblem) else cast_floats(problem, dtype)


def check_schedule(num_steps: int, log_every: int, start_step: int = 0) -> None:
    if int(num_steps) < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if int(log_every) < 1 or num_steps % log_every:
        raise ValueError(f"log_every must be >= 1 and divide num_steps={num_steps}, got {log_every}")
    if int(start_step) < 0:
        raise ValueError(f"start_step must be >= 0, got {start_step}")


def simulate(
    problem: AbstractProblem,
    noise: AbstractNoise,
    optimizer: optax.GradientTransformation,
    theta0: Array,
    key: Array,
    *,
    num_steps: int,
    log_every: int,
    metrics: Mapping[str, Metric] | None = None,
    opt_state0: Any = None,
    start_step: int = 0,
    divergence_threshold: float = 1e8,
    on_steps: Callable[[int], None] | None = None,
    report_every: int = 0,
) -> Simulation:
    """Run one optimizer path for `num_steps` steps. Jittable; `theta0` fixes the dtype.

    With `on_steps` and `report_every` > 0 the host function `on_steps(report_every)` is called
    (jax.debug.callback, a side effect only: the path is bitwise the same) after every
    `report_every` steps, so a caller can show progress inside a long compiled run. Under vmap it
    is called once per batch, not per run."""
    metrics = dict(metrics or {})
    dtype = jnp.result_type(theta0)
    problem = in_dtype(problem, dtype)
    opt_state = optimizer.init(theta0) if opt_state0 is None else opt_state0

    def advance(carry, k):
        theta, state = carry
        g = noise.stochastic_gradient(problem, theta, jax.random.fold_in(key, k))
        updates, new_state = optimizer.update(g, state, theta)
        return theta + updates, new_state

    (theta, state), log_steps, logs, status, stopped = logged_scan(
        advance, (theta0, opt_state), params=lambda c: c[0], finite=lambda c: jnp.all(jnp.isfinite(c[0])),
        measure=lambda c: {name: jnp.asarray(fn(problem, c[0])) for name, fn in metrics.items()},
        num_steps=num_steps, log_every=log_every, start_step=start_step, divergence_threshold=divergence_threshold,
        on_steps=on_steps, report_every=report_every,
    )
    return Simulation(theta, state, log_steps, logs, status, stopped)


def make_runner(
    noise: AbstractNoise,
    optimizer: optax.GradientTransformation | Callable[..., optax.GradientTransformation],
    *,
    num_steps: int,
    log_every: int,
    metrics: Mapping[str, Metric] | None = None,
    start_step: int = 0,
    block_size: int = 8,
    divergence_threshold: float = 1e8,
    per_run_problems: bool = False,
    per_run_hyperparameters: bool = False,
    on_steps: Callable[[int], None] | None = None,
    report_every: int = 0,
) -> Callable[..., Simulation]:
    """A jitted `runner(problem, theta0, keys, hyperparameters, opt_state0)` for many runs.

    Build it once and call it on many chunks of a sweep: it compiles once per chunk shape. With
    `per_run_problems` every leaf of `problem` carries a leading runs axis (runs with their own
    data); otherwise all runs share `problem`, and the per-step work of a block is a
    matrix–matrix product. With `per_run_hyperparameters` `optimizer` is a factory called with
    each run's entries of `hyperparameters`, so a sweep over learning rates or β's is one program.
    Runs are evaluated in blocks of `block_size` (see `sde.batching`): a run's result is bitwise
    the same whatever the number of runs or the chunking. `on_steps(report_every)` (see
    `simulate`) is called once per block of runs every `report_every` steps.
    """
    check_schedule(num_steps, log_every, start_step)

    def one_run(batched, shared_problem):
        theta, key, hp, state0, own_problem = batched
        problem = own_problem if per_run_problems else shared_problem
        opt = optimizer(**hp) if per_run_hyperparameters else optimizer
        return simulate(
            problem,
            noise,
            opt,
            theta,
            key,
            num_steps=num_steps,
            log_every=log_every,
            metrics=metrics,
            opt_state0=state0,
            start_step=start_step,
            divergence_threshold=divergence_threshold,
            on_steps=on_steps,
            report_every=report_every,
        )

    return _blocked_runner(one_run, block_size, per_run_problems,
                           lambda hyperparameters, dtype: cast_floats(dict(hyperparameters or {}), dtype),
                           lambda opt_state0, dtype: cast_floats(opt_state0, dtype))


def _blocked_runner(one, block_size: int, per_run_problems: bool, cast_hyperparameters, cast_state):
    """The jitted `runner(problem, theta0, keys, hyperparameters, opt_state0)` of `make_runner` and
    `make_group_runner`: `one((theta, key, hyperparameters, state0, own problem), shared problem)`
    over the leading axis in blocks of `block_size`, the problem per run or shared, the
    hyperparameters and starting states cast to θ₀'s dtype by the given casts."""
    blocked = blocked_vmap(one, block_size)

    @jax.jit
    def runner(problem, theta0, keys, hyperparameters=None, opt_state0=None):
        theta0 = jnp.asarray(theta0)
        hyper = cast_hyperparameters(hyperparameters, theta0.dtype)
        state0 = cast_state(opt_state0, theta0.dtype)
        own = problem if per_run_problems else None
        shared = None if per_run_problems else problem
        return blocked((theta0, keys, hyper, state0, own), shared)

    return runner


def simulate_group(
    problem: AbstractProblem,
    noise: AbstractNoise,
    optimizers: Sequence[optax.GradientTransformation],
    theta0: Array,
    keys: Array,
    *,
    num_steps: int,
    log_every: int,
    metrics: Mapping[str, Metric] | None = None,
    opt_state0: Sequence[Any] | None = None,
    start_step: int = 0,
    divergence_threshold: float = 1e8,
    on_steps: Callable[[int], None] | None = None,
    report_every: int = 0,
) -> tuple[Simulation, ...]:
    """G runs on one problem advanced side by side, run i with `optimizers[i]` from `theta0[i]`
    (theta0: (G, D)) with key `keys[i]`; returns one `Simulation` per run.

    Every step draws the G noisy gradients in one call, `noise.stochastic_gradients`, with the
    problem shared: under label noise on a model linear in x the products are X·[w₁ … w_G] and
    [r₁ … r_G]ᵀX (`SquaredLossProblem.labelled_gradients`), so X is read once a step for all G
    runs instead of once per run; other noises and models vmap the one-run gradient. Run i is the
    run `simulate` gives with the same arguments up to the summation order of those products: the
    same noise (`fold_in(keys[i], k)`), and its own status and freeze (`sde.scan.guard`), so one
    diverging run stops neither the others nor their products. `opt_state0[i]` (None: `init`) is
    run i's starting state; `on_steps(count)` is told G·`report_every` steps each time."""
    metrics = dict(metrics or {})
    G = len(optimizers)
    theta0 = jnp.asarray(theta0)
    if theta0.ndim != 2 or theta0.shape[0] != G:
        raise ValueError(f"theta0 must have shape ({G}, D) for {G} optimizers, got {theta0.shape}")
    dtype = jnp.result_type(theta0)
    problem = in_dtype(problem, dtype)
    states0 = tuple(opt.init(theta0[i]) if opt_state0 is None or opt_state0[i] is None else opt_state0[i]
                    for i, opt in enumerate(optimizers))
    params = lambda c: c[0]  # noqa: E731  (one run's (θ, state), as `simulate` guards it)
    finite = lambda c: jnp.all(jnp.isfinite(c[0]))  # noqa: E731

    def advance(carry, k):
        thetas, states, status, stopped = carry
        grads = noise.stochastic_gradients(problem, thetas, jax.vmap(lambda key: jax.random.fold_in(key, k))(keys))
        out = []
        for i, opt in enumerate(optimizers):
            updates, new_state = opt.update(grads[i], states[i], thetas[i])
            out.append(guard((thetas[i] + updates, new_state), (thetas[i], states[i]), status[i], stopped[i], k, params=params,
                             finite=finite, divergence_threshold=divergence_threshold))
        return (jnp.stack([o[0][0] for o in out]), tuple(o[0][1] for o in out), jnp.stack([o[1] for o in out]),
                jnp.stack([o[2] for o in out]))

    def measure(carry):
        return {name: jnp.stack([jnp.asarray(fn(problem, carry[0][i])) for i in range(G)]) for name, fn in metrics.items()}

    carry0 = (theta0, states0, jnp.full((G,), RunStatus.OK, jnp.int32), jnp.full((G,), -1, jnp.int32))
    report = None if on_steps is None else (lambda count: on_steps(G * count))
    # the members guard themselves; the scan's own run-level guard never fires
    (thetas, states, status, stopped), log_steps, logs, _, _ = logged_scan(
        advance, carry0, params=lambda c: jnp.zeros((), dtype), finite=lambda c: jnp.asarray(True), measure=measure,
        num_steps=num_steps, log_every=log_every, start_step=start_step, divergence_threshold=divergence_threshold,
        on_steps=report, report_every=report_every,
    )
    return tuple(Simulation(thetas[i], states[i], log_steps, {name: v[:, i] for name, v in logs.items()}, status[i], stopped[i])
                 for i in range(G))


def make_group_runner(
    noise: AbstractNoise,
    optimizers: Sequence[optax.GradientTransformation | Callable[..., optax.GradientTransformation]],
    *,
    num_steps: int,
    log_every: int,
    metrics: Mapping[str, Metric] | None = None,
    start_step: int = 0,
    block_size: int = 8,
    divergence_threshold: float = 1e8,
    per_run_problems: bool = False,
    per_run_hyperparameters: bool = False,
    on_steps: Callable[[int], None] | None = None,
    report_every: int = 0,
) -> Callable[..., tuple[Simulation, ...]]:
    """`make_runner` for groups of G = len(`optimizers`) runs that share a problem
    (`simulate_group`): a jitted `runner(problem, theta0, keys, hyperparameters, opt_state0)` with
    theta0 (groups, G, D) and keys (groups, G, …); `hyperparameters` a sequence of G dicts (each
    entry with a leading groups axis) for the factories `optimizers[i]`, and `opt_state0` a
    sequence of G states (None entries: `init`). With `per_run_problems` each group has its own
    problem (a leading groups axis on every leaf), the case of a sweep's instances, each run by
    several optimizers. Groups go in blocks of `block_size` (`sde.batching`), so a group's result
    does not depend on how many groups there are or how they are chunked. Returns G Simulations,
    each with a leading groups axis."""
    check_schedule(num_steps, log_every, start_step)
    G = len(optimizers)
    if G < 1:
        raise ValueError("optimizers must name at least one optimizer")

    def one_group(batched, shared_problem):
        theta, key, hps, states0, own_problem = batched
        problem = own_problem if per_run_problems else shared_problem
        opts = [opt(**hp) if per_run_hyperparameters else opt for opt, hp in zip(optimizers, hps)]
        return simulate_group(problem, noise, opts, theta, key, num_steps=num_steps, log_every=log_every, metrics=metrics,
                              opt_state0=states0, start_step=start_step, divergence_threshold=divergence_threshold,
                              on_steps=on_steps, report_every=report_every)

    return _blocked_runner(one_group, block_size, per_run_problems,
                           lambda hps, dtype: tuple(cast_floats(dict(h or {}), dtype) for h in (hps or [None] * G)),
                           lambda states, dtype: None if states is None else tuple(cast_floats(st, dtype) for st in states))


def simulate_runs(
    problem: AbstractProblem,
    noise: AbstractNoise,
    optimizer: optax.GradientTransformation | Callable[..., optax.GradientTransformation],
    theta0: Array,
    keys: Array,
    *,
    num_steps: int,
    log_every: int,
    metrics: Mapping[str, Metric] | None = None,
    hyperparameters: Mapping[str, Array] | None = None,
    opt_state0: Any = None,
    start_step: int = 0,
    block_size: int = 8,
    divergence_threshold: float = 1e8,
) -> Simulation:
    """Many runs sharing `problem` (see `make_runner`): `theta0` (runs, D) and `keys` carry one
    entry per run, and so do `hyperparameters` when given. Validates the inputs in Python, before
    anything is compiled."""
    check_schedule(num_steps, log_every, start_step)
    problem.check_params(theta0, "theta0")
    noise.validate(problem)
    if jnp.ndim(theta0) != 2:
        raise ValueError(f"theta0 must have shape (runs, {problem.num_params}), got {jnp.shape(theta0)}")
    runs = theta0.shape[0]
    if jnp.shape(keys)[0] != runs:
        raise ValueError(f"keys must have one entry per run ({runs}), got {jnp.shape(keys)[0]}")
    for name, values in (hyperparameters or {}).items():
        if jnp.shape(values)[:1] != (runs,):
            raise ValueError(f"hyperparameters[{name!r}] must have one entry per run ({runs})")
    runner = make_runner(
        noise,
        optimizer,
        num_steps=num_steps,
        log_every=log_every,
        metrics=metrics,
        start_step=start_step,
        block_size=block_size,
        divergence_threshold=divergence_threshold,
        per_run_hyperparameters=hyperparameters is not None,
    )
    return runner(problem, theta0, keys, hyperparameters, opt_state0)


def simulate_antithetic(
    problem: AbstractProblem,
    noise: AbstractNoise,
    optimizer: optax.GradientTransformation,
    theta0: Array,
    keys: Array,
    *,
    num_steps: int,
    opt_state0: Any = None,
    block_size: int | None = None,
) -> Simulation:
    """Antithetic pairs of runs from one start: every key runs with `noise` and with its mirror image
    `AntitheticNoise(noise)` (ξ → −ξ on the same draws), all from `theta0` (D,) and the unbatched
    `opt_state0`. Every field of the result has the runs axis [the P plus runs; the P minus runs]
    (P = number of keys), so pair means are ½(x[:P] + x[P:]) (`antithetic_pair_se`). Averaging a
    pair cancels every term odd in the noise, the O(√η) spread of a discrete-vs-slow comparison."""
    from implicit_bias_lab.sde.noise import AntitheticNoise

    pairs = int(jnp.shape(keys)[0])
    theta = jnp.broadcast_to(jnp.asarray(theta0), (pairs, jnp.size(theta0)))
    state = None if opt_state0 is None else jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (pairs, *jnp.shape(a))), opt_state0)
    sims = [
        simulate_runs(problem, nz, optimizer, theta, keys, num_steps=num_steps, log_every=num_steps, opt_state0=state,
                      block_size=block_size or pairs)
        for nz in (noise, AntitheticNoise(noise))
    ]
    return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), sims[0], sims[1])


def antithetic_pair_se(x) -> float:
    """Standard error of the mean of runs stored as antithetic halves [x₊; x₋] (the pairs are i.i.d.):
    √(Σ_coords Var(pair means)/P)."""
    import numpy as np

    x = np.asarray(x)
    h = x.shape[0] // 2
    pairs = 0.5 * (x[:h] + x[h:])
    return float(np.sqrt(np.sum(np.atleast_2d(np.var(pairs.reshape(h, -1), axis=0, ddof=1))) / h))
