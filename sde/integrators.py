"""Fixed-step explicit Runge–Kutta integration of autonomous ODEs dy/dt = f(y), y any pytree.

The scheme is the classical four-stage Runge–Kutta method of order 4 (Kutta 1901; E. Hairer,
S. P. Nørsett & G. Wanner, *Solving Ordinary Differential Equations I: Nonstiff Problems*, 2nd ed.,
Springer 1993, Section II.1: nodes 0, ½, ½, 1, weights 1/6, 2/6, 2/6, 1/6):

    k₁ = f(y),  k₂ = f(y + ½h k₁),  k₃ = f(y + ½h k₂),  k₄ = f(y + h k₃),
    y ← y + h (k₁/6 + k₂/3 + k₃/3 + k₄/6).

Global error O(h⁴) for a smooth f. The four stages run as a `lax.scan` over the tableau's rows, so
`f` is traced and compiled once per step rather than four times: a fixed-step solve compiles fast.
This is the lab's one fixed-step integrator: the paper checks' flows (`paper_checks.claims._util.rk4`)
and the classroom demos' logged paths (`experiments.demos.common.rk4_path`) call it. Adaptive
integration of the slow flows is `sde.slow.integrate_slow_flow` (Diffrax Tsit5).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

PyTree = Any
Velocity = Callable[[PyTree], PyTree]

#: the classical RK4 tableau: stage i evaluates f at y + NODES[i]·h·k_{i−1}; the step adds h·Σ WEIGHTS[i]·k_i
NODES = (0.0, 0.5, 0.5, 1.0)
WEIGHTS = (1.0 / 6.0, 2.0 / 6.0, 2.0 / 6.0, 1.0 / 6.0)


def rk4_step(velocity: Velocity, y: PyTree, dt) -> PyTree:
    """One classical RK4 step of size `dt` for dy/dt = velocity(y). `velocity` must return a pytree
    with the structure, shapes and dtypes of `y`. Jittable."""
    tree_map = jax.tree_util.tree_map
    nodes, weights = jnp.array(NODES), jnp.array(WEIGHTS)

    def stage(carry, coeffs):
        k_prev, acc = carry
        node, weight = coeffs
        k = velocity(tree_map(lambda a, b: a + node * dt * b, y, k_prev))
        return (k, tree_map(lambda s, b: s + weight * b, acc, k)), None

    zeros = tree_map(jnp.zeros_like, y)
    (_, slope), _ = jax.lax.scan(stage, (zeros, zeros), (nodes, weights))
    return tree_map(lambda a, b: a + dt * b, y, slope)


def rk4(velocity: Velocity, y0: PyTree, t1, num_steps: int) -> PyTree:
    """y(t1) for dy/dt = velocity(y), y(0) = y0: `num_steps` RK4 steps of size t1/num_steps in a
    `lax.fori_loop` (velocity autonomous). Jittable; num_steps a Python int."""
    if int(num_steps) < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    dt = t1 / num_steps
    return jax.lax.fori_loop(0, int(num_steps), lambda _, y: rk4_step(velocity, y, dt), y0)
