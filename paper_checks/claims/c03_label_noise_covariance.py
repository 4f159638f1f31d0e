"""Claim 3: on Γ label noise has covariance Σ = cH, c = δ²/B for a batch of B, δ²/n full batch.

Source: Li, Wang, Arora (ICLR 2022) label-noise setting (Σ ∝ ∇²L on Γ); Damian, Ma, Lee (NeurIPS
2021) footnote on label noise (λ = ησ²/B); Li, Wen, Lyu (NeurIPS 2025) §5.2 (α = δ²/B);
the constants as used here: docs/theory.md#1-conventions.

Symbolic (sympy, exact): on Γ every residual vanishes, so a noisy step's gradient is
ξ = −(1/B)Σ_{k∈batch} ε_k ∇f_k with independent ε_k (mean 0, variance δ²) and H = (1/n)Σ_k ∇f_k∇f_kᵀ.
With symbolic gradients ∇f_k ∈ R² (n = 3) the expectation E ξξᵀ (ε_kε_l → δ²[k = l], then averaged
over all batches: every subset of size B without replacement, every ordered B-tuple with
replacement) is exactly (δ²/B)·H, and (δ²/n)·H for the full batch.

Numeric (the lab's `sde.noise.LabelNoise.stochastic_gradient`, float64): N draws at a point of Γ of a
diagonal net (d = 3, n = 4, Gaussian X); the empirical second moment E ggᵀ (the mean gradient ∇L
is 0 on Γ) against c·H with H the closed form `DiagonalNet.hessian_on_manifold` (equal to jax.hessian on Γ to
1e-16, claim 2). Error = ‖Ĉ − cH‖_F/‖cH‖_F, tolerance
4 Monte-Carlo standard errors (s.e. ∝ 1/√N, estimated from the same draws, fixed seed):
about 0.02 at the small size, so a wrong c by a factor 2 (error 0.5) or n/B (error ≥ 0.5) fails.
The closed forms `LabelNoise.label_noise_constant` and `.covariance` are compared with δ²/n,
δ²/B and cH to float64 round-off (tolerance 1e-12).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from implicit_bias_lab import models
from implicit_bias_lab.paper_checks.catalogue import CheckResult
from implicit_bias_lab.paper_checks.claims._util import check_size, sym_zero
from implicit_bias_lab.sde.noise import LabelNoise

CLAIM = "label noise on Γ: Σ = cH with c = δ²/B (batch B) and c = δ²/n (full batch)"
SOURCE = "Li–Wang–Arora (ICLR 2022) label-noise SGD; Li–Wen–Lyu (NeurIPS 2025) §5.2 (α = δ²/B)"

DELTA = 0.7
N_SAMPLES, D, B = 4, 3, 2  # n samples, diagonal-net width, batch size


def claimed_constant(delta: float, n: int, batch_size: int | None) -> float:
    """c in Σ = cH: δ²/B for a batch of B, δ²/n for the full batch."""
    return delta**2 / (n if batch_size is None else batch_size)


# ----------------------------------------------------------------------------- symbolic side
def _expect_eps(expr, eps, delta):
    """E over independent ε_k (mean 0, variance δ²) of a polynomial of degree ≤ 2 in ε."""
    poly = sp.Poly(sp.expand(expr), *eps)
    out = 0
    for monom, coeff in poly.terms():
        if sum(monom) == 0:
            out += coeff
        elif sum(monom) == 2 and max(monom) == 2:
            out += coeff * delta**2
    return out


def _second_moment(rows, grads, eps, delta):
    Bn = len(rows)
    xi = -sum((eps[j] * grads[k] for j, k in enumerate(rows)), sp.zeros(2, 1)) / Bn
    return (xi * xi.T).applyfunc(lambda e: _expect_eps(e, eps[:Bn], delta))


def _symbolic():
    n = 3
    delta = sp.symbols("delta", positive=True)
    grads = [sp.Matrix(sp.symbols(f"a{k} b{k}", real=True)) for k in range(n)]
    eps = sp.symbols(f"e0:{n}", real=True)
    H = sum((g * g.T for g in grads), sp.zeros(2, 2)) / n
    results = {}
    full = _second_moment(list(range(n)), grads, eps, delta)
    results["full batch"] = sym_zero(full - delta**2 / n * H)
    for Bs in (1, 2):
        subsets = list(itertools.combinations(range(n), Bs))
        wo = sum((_second_moment(list(s), grads, eps, delta) for s in subsets), sp.zeros(2, 2)) / len(subsets)
        tuples = list(itertools.product(range(n), repeat=Bs))
        wr = sum((_second_moment(list(s), grads, eps, delta) for s in tuples), sp.zeros(2, 2)) / len(tuples)
        results[f"B={Bs} w/o repl."] = sym_zero(wo - delta**2 / Bs * H)
        results[f"B={Bs} with repl."] = sym_zero(wr - delta**2 / Bs * H)
    return results


# ----------------------------------------------------------------------------- numeric side
def _problem():
    net = models.DiagonalNet(D)
    kx, kt = jax.random.split(jax.random.PRNGKey(11))
    X = jax.random.normal(kx, (N_SAMPLES, D), jnp.float64)
    theta = jax.random.normal(kt, (2 * D,), jnp.float64)
    return models.SquaredLossProblem(net, X, X @ net.effective_weights(theta)), theta


def _monte_carlo(problem, theta, noise, num, seed):
    keys = jax.random.split(jax.random.PRNGKey(seed), num)

    @jax.jit
    def stats(keys):
        G = jax.vmap(lambda k: noise.stochastic_gradient(problem, theta, k))(keys)
        outer = G[:, :, None] * G[:, None, :]
        return jnp.mean(outer, axis=0), jnp.var(outer, axis=0)

    return stats(keys)


def check(size: str) -> list[CheckResult]:
    full = check_size(size)
    num = 400_000 if full else 40_000
    sym = _symbolic()
    problem, theta = _problem()
    H = np.asarray(problem.model.hessian_on_manifold(theta, problem.X))  # = jax.hessian on Γ (claim 2)
    rows, closed_err = [], 0.0
    cases = [
        ("full batch, Rademacher ±δ", LabelNoise(DELTA, "rademacher"), None, ["full batch"]),
        (f"batch B={B} without replacement, Gaussian", LabelNoise(DELTA, "gaussian", batch_size=B), B, [f"B={B} w/o repl."]),
        ("batch B=1 with replacement, Rademacher", LabelNoise(DELTA, "rademacher", batch_size=1, replace=True), 1, ["B=1 with repl.", "B=1 w/o repl."]),
    ]
    for i, (label, noise, batch, sym_keys) in enumerate(cases):
        c = claimed_constant(DELTA, N_SAMPLES, batch)
        C_hat, var = _monte_carlo(problem, theta, noise, num, seed=100 + i)
        target = c * H
        scale = np.linalg.norm(target)
        err = float(np.linalg.norm(np.asarray(C_hat) - target) / scale)
        se = float(np.sqrt(np.sum(np.asarray(var)) / num) / scale)
        closed_err = max(
            closed_err,
            abs(noise.label_noise_constant(problem) - c) / c,
            float(np.linalg.norm(np.asarray(noise.covariance(problem, theta)) - target) / scale),
        )
        ok = all(sym[k] for k in sym_keys)
        rows.append(
            CheckResult(
                f"label noise, {label}: Cov(g) = cH with c = δ²/{'n' if batch is None else 'B'} = {c:.4g}",
                SOURCE,
                f"E ξξᵀ = (δ²/{'n' if batch is None else 'B'})H exactly ({', '.join(sym_keys)})" + ("" if ok else " — FAILED"),
                err,
                4 * se,
                ok,
                note=f"{label}: {num} draws of LabelNoise.stochastic_gradient, ‖Ĉ − cH‖/‖cH‖ = {err:.2e}, "
                f"s.e. {se:.2e}; with c off by 2 the error would be 0.5",
            )
        )
    rows.append(
        CheckResult(
            "LabelNoise.label_noise_constant and .covariance give c = δ²/n, δ²/B and Σ = cH on Γ",
            SOURCE,
            "all schemes: " + ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in sym.items()),
            closed_err,
            1e-12,
            all(sym.values()),
        )
    )
    return rows
