"""Run many independent runs in fixed-size blocks, so a run's result never depends on batching.

XLA's matrix kernels accumulate in an order that depends on the batch width, so a vmapped run is
not bitwise equal to the same run alone. `blocked_vmap` always evaluates `fn` under `vmap` on
blocks of exactly `block_size` runs (padding the last block with copies of the first run) and loops
over blocks with `lax.map`; every run then sees the same kernels whatever the number of runs,
the chunking of a sweep or its position in a block. The per-step work of a block of runs that share
a design matrix is a matrix–matrix product.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp


def num_runs(batched_args: Any) -> int:
    leaves = jax.tree_util.tree_leaves(batched_args)
    if not leaves:
        raise ValueError("blocked_vmap needs at least one batched argument")
    sizes = {jnp.shape(leaf)[0] for leaf in leaves}
    if len(sizes) != 1:
        raise ValueError(f"batched arguments must share their leading (runs) axis, got sizes {sorted(sizes)}")
    return sizes.pop()


def blocked_vmap(fn: Callable, block_size: int) -> Callable:
    """`blocked_vmap(fn, B)(batched, *shared)` = `vmap(fn, (0, None…))(batched, *shared)`
    computed block by block (B runs at a time); `batched` is a pytree with a leading runs axis."""
    if int(block_size) < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")

    def run(batched, *shared):
        runs = num_runs(batched)
        pad = (-runs) % block_size

        def to_blocks(a):
            if pad:
                a = jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)], axis=0)
            return a.reshape((-1, block_size) + a.shape[1:])

        blocks = jax.tree_util.tree_map(to_blocks, batched)
        out = jax.lax.map(lambda b: jax.vmap(fn, in_axes=(0,) + (None,) * len(shared))(b, *shared), blocks)
        return jax.tree_util.tree_map(lambda a: a.reshape((-1,) + a.shape[2:])[:runs], out)

    return run
