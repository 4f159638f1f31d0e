"""Fixed-step explicit Runge–Kutta integration of autonomous ODEs dy/dt = f(y), y any pytree.

The scheme is the classical four-stage Runge–Kutta method of order 4 (Kutta 1901; E. Hairer,
S. P. Nørsett & G. Wanner, *Solving Ordinary Differential Equations I: Nonstiff Problems*, 2nd ed.,
Springer 1993, Section II.1: nodes 0, ½, ½, 1, weights 1/6, 2/6, 2/6, 1/6):

    k₁ = f(y),  k₂ = f(y + ½h k₁),  k₃ = f(y + ½h k₂),  k₄ = f(y + h k₃),
    y ← y + (h/6)(k₁ + 2k₂ + 2k₃ + k₄).

Global error O(h⁴) for a smooth f. The four stages run as a `lax.scan` over the tableau's rows, so
`f` is traced and compiled once per step rather than four times: a fixed-step solve compiles fast.
This is the lab's one fixed-step integrator: the paper checks' flows (`paper_checks.claims._util.rk4`),
the classroom demos' logged paths (`experiments.demos.common.rk4_path`) and the diagonal net's SGD
flows (`sde.slow_diagonal.integrate_sgd_flow_stepped` and its compact route) call it. Adaptive
integration of the slow flows is `sde.slow.integrate_slow_flow` (Diffrax Tsit5).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

PyTree = Any
Velocity = Callable[[PyTree], PyTree]

#: the classical RK4 tableau: stage i evaluates f at y + NODES[i]·h·k_{i−1}; the step adds (h/6)·Σ WEIGHTS[i]·k_i
NODES = (0.0, 0.5, 0.5, 1.0)
WEIGHTS = (1.0, 2.0, 2.0, 1.0)


def rk4_step(velocity: Callable, y: PyTree, dt, has_aux: bool = False, unrolled: bool = False):
    """One classical RK4 step of size `dt` for dy/dt = velocity(y). `velocity` must return a pytree
    with the structure, shapes and dtypes of `y`, or with `has_aux=True` a pair (that pytree, aux);
    the step then returns (y_new, the four stages' aux stacked on a leading axis). Jittable.

    The slope is summed as k₁ + 2k₂ + 2k₃ + k₄ from left to right and scaled by h/6 once (the
    weights 1, 2, 2, 1 are exact), the textbook order of operations. The stages run as a scan
    (`velocity` traced once), or with `unrolled=True` inline (traced four times; XLA may then fuse
    across stages, which changes the last bits, not the scheme: the diagonal-net SGD flows use it)."""
    tree_map = jax.tree_util.tree_map

    def stage(k_prev, node):
        out = velocity(y if k_prev is None else tree_map(lambda a, b: a + node * dt * b, y, k_prev))
        return out if has_aux else (out, None)

    if unrolled:
        ks, auxs = [], []
        for node in NODES:
            k, aux = stage(ks[-1] if ks else None, node)
            ks.append(k)
            auxs.append(aux)
        slope = tree_map(lambda k1, k2, k3, k4: k1 + 2 * k2 + 2 * k3 + k4, *ks)
        aux = tree_map(lambda *a: jnp.stack(a), *auxs) if has_aux else None
    else:
        def scanned(carry, coeffs):
            k_prev, acc = carry
            node, weight = coeffs
            k, aux = stage(k_prev, node)
            return (k, tree_map(lambda s, b: s + weight * b, acc, k)), aux

        zeros = tree_map(jnp.zeros_like, y)
        (_, slope), aux = jax.lax.scan(scanned, (zeros, zeros), (jnp.array(NODES), jnp.array(WEIGHTS)))
    y_new = tree_map(lambda a, b: a + dt / 6 * b, y, slope)
    return (y_new, aux) if has_aux else y_new


def rk4(velocity: Velocity, y0: PyTree, t1, num_steps: int) -> PyTree:
    """y(t1) for dy/dt = velocity(y), y(0) = y0: `num_steps` RK4 steps of size t1/num_steps in a
    `lax.fori_loop` (velocity autonomous). Jittable; num_steps a Python int."""
    if int(num_steps) < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    dt = t1 / num_steps
    return jax.lax.fori_loop(0, int(num_steps), lambda _, y: rk4_step(velocity, y, dt), y0)
