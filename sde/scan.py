"""The one scan skeleton behind the discrete engine (`sde.discrete.simulate`) and the Euler–Maruyama
route of the SDEs (`sde.integrate.euler_maruyama`).

`logged_scan` advances a state by `advance(state, k)` for the global steps k = start_step, …,
start_step + num_steps − 1 (so noise keyed by k does not depend on how a run is split), as
`lax.scan` over blocks of `log_every` steps with a metric logged after each block and at the start.
A step whose new state is not finite, or whose parameters exceed `divergence_threshold` in
absolute value, freezes the run at its last good state and flags it (`RunStatus`), recording the
step; one bad run never turns an aggregate into NaN.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax import Array

from implicit_bias_lab.sde.status import RunStatus


def guard(new_state: Any, state: Any, status: Array, stopped: Array, k: Array, *, params: Callable[[Any], Array],
          finite: Callable[[Any], Array], divergence_threshold: float) -> tuple[Any, Array, Array]:
    """One step's freeze rule for one run: (state, status, stopped) after a step from `state` to
    `new_state` at step k. A run still OK whose new state is not finite (NONFINITE) or whose
    parameters exceed the threshold (DIVERGED) keeps `state` and records k; otherwise it takes
    `new_state`. Used by `logged_scan` and, once per member, by runs advanced side by side
    (`sde.discrete.simulate.simulate_group`)."""
    ok = status == RunStatus.OK
    bounded = jnp.all(jnp.abs(params(new_state)) <= divergence_threshold)
    new_status = jnp.where(ok & ~finite(new_state), RunStatus.NONFINITE, jnp.where(ok & ~bounded, RunStatus.DIVERGED, status))
    keep = new_status == RunStatus.OK
    state = jax.tree_util.tree_map(lambda new, old: jnp.where(keep, new, old), new_state, state)
    stopped = jnp.where(ok & ~keep, k, stopped).astype(jnp.int32)
    return state, new_status, stopped


def logged_scan(
    advance: Callable[[Any, Array], Any],
    state0: Any,
    *,
    params: Callable[[Any], Array],
    finite: Callable[[Any], Array],
    measure: Callable[[Any], dict[str, Array]],
    num_steps: int,
    log_every: int,
    start_step: int = 0,
    divergence_threshold: float = 1e8,
    on_steps: Callable[[int], None] | None = None,
    report_every: int = 0,
):
    """(state, log_steps, logs, status, stopped): the final state, the logged step indices
    (num_steps/log_every + 1), the metrics at those steps (`measure(state)` → dict), the run's
    `RunStatus` and the step it stopped at (−1 if it did not). `params(state)` is checked against
    the threshold, `finite(state)` decides NONFINITE. With `on_steps` and `report_every` > 0 the host
    function `on_steps(report_every)` is called every `report_every` steps (jax.debug.callback, a
    side effect only: the path is bitwise the same; under vmap once per batch)."""
    num_logs = num_steps // log_every

    def step(carry, k):
        state, status, stopped = carry
        state, new_status, stopped = guard(advance(state, k), state, status, stopped, k, params=params, finite=finite,
                                           divergence_threshold=divergence_threshold)
        if on_steps is not None and report_every > 0:
            jax.lax.cond((k + 1 - start_step) % report_every == 0,
                         lambda: jax.debug.callback(on_steps, report_every), lambda: None)
        return (state, new_status, stopped), None

    def block(carry, i):
        first = start_step + i * log_every
        carry, _ = jax.lax.scan(step, carry, first + jnp.arange(log_every, dtype=jnp.int32))
        return carry, measure(carry[0])

    carry0 = (state0, jnp.asarray(RunStatus.OK, jnp.int32), jnp.asarray(-1, jnp.int32))
    (state, status, stopped), logs = jax.lax.scan(block, carry0, jnp.arange(num_logs, dtype=jnp.int32))
    first = measure(state0)
    logs = {name: jnp.concatenate([first[name][None], logs[name]]) for name in first}
    log_steps = start_step + log_every * jnp.arange(num_logs + 1, dtype=jnp.int64)
    return state, log_steps, logs, status, stopped


def all_finite(tree: Any) -> Array:
    """True when every leaf of `tree` is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(tree)]))
