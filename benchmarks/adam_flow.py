"""Adam's slow flows on the diagonal net: the vmappable sweep routes against the per-instance routes
that gather the alive columns (issue 12), on GD landing points (float64, u = v = 1) of ±1 sparse
regression with the `paper` preset's hyperparameters (δ = 0.5, c₂ = 5, ε = 0, slow time 30):

* quasi-static (c₂ → ∞): `integrate_adam_flow_stepped` (the sweep route: Gram over all d columns)
  against `integrate_adam_flow_compact` (alive columns gathered into `column_bucket` blocks, zero rows
  dropped, the closed-form dual once the alive columns are independent);
* v as a state: `integrate_adam_state_flow` (the sweep route) against
  `integrate_adam_state_flow_compact` (the same segments on gathered blocks, Cholesky, the dual form).

`small` (what `make bench` runs, ≈ 5 min): d = 1000, κ = 5, n = 100, one instance, old and new
side by side (seconds after compilation), max|Δw|/max|w| and the test loss; then one d = 10⁴,
κ = 50, n = 500 instance (the paper's size) by the new routes only (wall time with compilation,
then a second, cached call; the old routes took 71 s quasi-static with float32 Grams and the
unguarded `square_stop`, 356 s v-state, benchmarks/README.md). `full` adds the original
one-extinction-per-step stepper at d = 1000, the old v-state route at d = 10⁴ (≈ 6 min on quiet
cores, far more on busy ones) and the SGD flow at d = 10⁴: the per-instance route
`integrate_sgd_flow_compact` (what the sweep runs at d ≥ 2000; first and cached call) and the
vmapped `integrate_sgd_flow_stepped` unpadded and rows zero-padded to n_max = 1000 (as the sweep
runs it at d < 2000), extrapolated from 2 and 6 RK4 steps. The SGD flow's per-instance route runs
with factor "auto" (its default) and "stage" side by side. `--paper-n` picks the paper-size
instances' n (one or more), `--skip-small` leaves out d = 1000, `--sgd` adds the SGD flow's per-instance
route to `small` (the old SGD routes only run with `full`).

    python -m benchmarks.adam_flow [--size small|full] [--paper-n N ...] [--skip-small] [--sgd]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import time

import jax
import jax.numpy as jnp

from implicit_bias_lab.precision import enable_x64
from implicit_bias_lab.sde.slow_diagonal import (
    STATUS_NAMES,
    integrate_adam_flow_compact,
    integrate_adam_flow_stepped,
    integrate_sgd_flow_compact,
    integrate_sgd_flow_stepped,
)
from implicit_bias_lab.sde.slow_diagonal_state import integrate_adam_state_flow, integrate_adam_state_flow_compact

ORIGINAL = dict(kill_floor=0.0, closed_form_phase1=False, linalg="eigh", reuse_factor=False)


def landing(d: int, kappa: int, n: int, seed: int, gd_steps: int):
    """(data, θ0, config): the `paper` preset's instance at (d, κ, n, seed) and its GD landing point."""
    from implicit_bias_lab.experiments import sparse_recovery as sr

    config = dataclasses.replace(sr.Config(**sr.PRESETS["paper"]), d=d, kappa=kappa, n=(n,), seeds=seed + 1, gd_steps=gd_steps)
    inst = sr.instances(config)[seed]
    data = sr.instance_data(config, inst)
    return data, jnp.asarray(sr.gd_landing(config, [inst])[0]), config


def _timed(f):
    t0 = time.perf_counter()
    out = jax.block_until_ready(f())
    return time.perf_counter() - t0, out


def _cached(f):
    """(seconds of a second call, result): the first call compiles."""
    jax.block_until_ready(f())
    return _timed(f)


def _flows(data, theta0, config):
    """name → (old, new) callables of one instance."""
    X, y = data.X, data.y
    scale = float(jnp.max(theta0**2))
    qs = dict(dt_max=0.01 * scale)
    vs = dict(noise_scale=config.noise_constant(X.shape[0]), c2=config.adam_c2, eps=config.eps, dead_floor=config.dead_floor)
    t_vs = config.adam_slow_time * config.init_scale**2
    stepped = jax.jit(lambda X, y, th: integrate_adam_flow_stepped(X, y, th, 100 * scale, **qs))
    return {
        "quasi-static": (lambda: stepped(X, y, theta0), lambda: integrate_adam_flow_compact(X, y, theta0, 100 * scale, **qs)),
        "v-state": (lambda: integrate_adam_state_flow(X, y, theta0, t_vs, **vs), lambda: integrate_adam_state_flow_compact(X, y, theta0, t_vs, **vs)),
    }


def _line(label, sec, res, data, ref=None):
    w = res.w
    test = float(0.5 * jnp.sum((w - data.w_star) ** 2))
    status = int(res.status)
    steps = int(res.num_phases) if hasattr(res, "num_phases") else int(res.num_steps)
    dw = "" if ref is None else f"  max|Δw|/max|w| {float(jnp.max(jnp.abs(w - ref.w)) / jnp.max(jnp.abs(ref.w))):.1e}"
    print(f"{label:52s} {sec:8.2f} s  steps {steps:5d}  test loss {test:.2e}  status {STATUS_NAMES.get(status, status)}{dw}", flush=True)
    return dict(label=label, seconds=sec, steps=steps, test_loss=test, status=status)


def small(original: bool = False) -> list[dict]:
    data, theta0, config = landing(1000, 5, 100, 0, 4000)
    rows = []
    for name, (old, new) in _flows(data, theta0, config).items():
        t_old, r_old = _cached(old)
        t_new, r_new = _cached(new)
        rows.append(_line(f"d=1000 n=100 {name}: sweep route (old)", t_old, r_old, data))
        rows.append(_line(f"d=1000 n=100 {name}: per-instance route (new)", t_new, r_new, data, r_old))
        print(f"{'':52s} speed-up {t_old / t_new:.1f}×", flush=True)
    if original:
        scale = float(jnp.max(theta0**2))
        f = jax.jit(lambda X, y, th: integrate_adam_flow_stepped(X, y, th, 100 * scale, dt_max=0.01 * scale, **ORIGINAL))
        sec, res = _cached(lambda: f(data.X, data.y, theta0))
        rows.append(_line("d=1000 n=100 quasi-static: original stepper", sec, res, data, r_new))
    return rows


def paper_size(old: bool = False, sgd: bool = False, n: int = 500, old_sgd: bool | None = None, cached: bool = True) -> list[dict]:
    """One d = 10⁴, κ = 50 instance of the `paper` preset at n: the new Adam routes (first call,
    and a second, cached one when `cached`), with `old` the old v-state route, with `sgd` the SGD
    flow (`sgd_flow`; its old routes with `old_sgd`, default `old`)."""
    t0 = time.perf_counter()
    data, theta0, config = landing(10_000, 50, n, 0, 2000)
    print(f"d=10^4 κ=50 n={n}: GD landing {time.perf_counter() - t0:.0f} s", flush=True)
    rows = []
    for name, (f_old, f_new) in _flows(data, theta0, config).items():
        sec, res = _timed(f_new)
        rows.append(_line(f"d=10^4 n={n} {name}: new, first call (compiles)", sec, res, data))
        if cached:
            sec, res = _timed(f_new)
            rows.append(_line(f"d=10^4 n={n} {name}: new, second call (cached)", sec, res, data))
        if old and name == "v-state":
            sec, r_old = _timed(f_old)
            rows.append(_line(f"d=10^4 n={n} {name}: old (with compilation)", sec, r_old, data))
            _line(f"d=10^4 n={n} {name}: new against old", rows[-2]["seconds"], res, data, r_old)
    if sgd:
        rows += sgd_flow(data, theta0, config, old=old if old_sgd is None else old_sgd, cached=cached)
    return rows


def sgd_flow(data, theta0, config, old: bool = True, cached: bool = True) -> list[dict]:
    """The SGD flow's per-instance route (`integrate_sgd_flow_compact`, the sweep's at d ≥ 2000:
    first call, and a second, cached one when `cached`, with factor "auto" and "stage"), and with `old` the vmapped
    `integrate_sgd_flow_stepped` with rows zero-padded to n_max = 1000 and scaled (the sweep's at
    d < 2000) and unpadded, per RK4 step from 2 and 6 steps, × config.sgd_flow_steps."""
    X, y = data.X, data.y
    n, n_max = X.shape[0], 1000
    a = math.sqrt(n_max / n)
    c, t1, steps = config.noise_constant(n), 4 * config.sgd_slow_time(n), config.sgd_flow_steps
    rows = []
    ends, last = {}, {}
    # factor "auto" (the default: one Gram per RK4 step, stages 2–4 by PCG, from 400 rows on) against
    # "stage" (a Gram per stage), side by side
    for factor in ("auto", "stage"):
        def new(factor=factor):
            return integrate_sgd_flow_compact(X, y, theta0, t1, noise_scale=c, num_steps=steps, factor=factor)

        for call in ("first call (compiles)", "second call (cached)")[: 2 if cached else 1]:
            sec, res = _timed(new)
            rows.append(_line(f"d=10^4 n={n} SGD flow: per-instance route, factor {factor}, {call}", sec, res, data, ends.get("auto")))
        ends[factor], last[factor] = res, sec
    print(f"{'':52s} speed-up of factor auto over stage: {last['stage'] / last['auto']:.2f}×", flush=True)
    if not old:
        return rows
    for name, (XX, yy) in (("unpadded", (X, y)), ("padded to n_max = 1000 (the vmapped sweep route)", (jnp.pad(X * a, ((0, n_max - n), (0, 0))), jnp.pad(y * a, (0, n_max - n))))):
        sec = []
        for k in (2, 6):
            f = jax.jit(jax.vmap(lambda X, y, th, k=k: integrate_sgd_flow_stepped(X, y, th, t1 * k / steps, noise_scale=c, num_steps=k)))
            sec.append(_cached(lambda: f(XX[None], yy[None], theta0[None]))[0])
        per = (sec[1] - sec[0]) / 4
        total = per * steps + max(sec[0] - 2 * per, 0.0)
        print(f"d=10^4 n={n} SGD flow, vmapped route {name}: {per:.2f} s per RK4 step → ≈ {total:.0f} s for {steps} steps", flush=True)
        rows.append(dict(label=f"SGD flow {name}", seconds=total, per_step=per))
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("small", "full"), default="small")
    parser.add_argument("--paper-n", type=int, nargs="+", default=[500], help="n of the d = 10⁴ instances (default 500)")
    parser.add_argument("--skip-small", action="store_true", help="leave out the d = 1000 comparison")
    parser.add_argument("--sgd", action="store_true", help="the SGD flow's per-instance route at d = 10⁴ also with --size small")
    args = parser.parse_args(argv)
    enable_x64()
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    full = args.size == "full"
    out = {"small": [] if args.skip_small else small(original=full)}
    for n in args.paper_n:
        out[f"paper_size_n{n}"] = paper_size(old=full, sgd=full or args.sgd, n=n)
        print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return out


if __name__ == "__main__":
    main()
