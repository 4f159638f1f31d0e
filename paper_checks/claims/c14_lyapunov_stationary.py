"""Stationary loss of constant-LR SGD on a (non-diagonal) quadratic from the discrete Lyapunov equation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab.paper_checks.catalogue import CheckResult

CLAIM = "constant-LR SGD on a quadratic: stationary covariance C = (I−ηH)C(I−ηH)ᵀ + η²Σ, loss ½tr(HC)"
SOURCE = "classical (discrete Lyapunov equation); docs/theory.md s8.7"


def check(size: str) -> CheckResult:
    from implicit_bias_lab.models.noisy_quadratic import random_quadratic
    from implicit_bias_lab.sde.closed_form import simulate_constant_lr, stationary_covariance

    dim, runs = (5, 2000) if size == "small" else (10, 20000)
    H, S = random_quadratic(1, dim, noise="general")
    eta = 0.5 / float(np.max(np.linalg.eigvalsh(H)))
    C = stationary_covariance(H, S, eta)
    A = np.eye(dim) - eta * H
    resid = float(np.max(np.abs(A @ C @ A.T + eta**2 * S - C)))
    steps = int(30 / (eta * float(np.min(np.linalg.eigvalsh(H)))))
    theta = np.asarray(simulate_constant_lr(jnp.asarray(H), jnp.asarray(np.linalg.cholesky(S)), eta, jax.random.PRNGKey(5), runs, steps))
    losses = 0.5 * np.einsum("ri,ij,rj->r", theta, H, theta)
    z = (losses.mean() - 0.5 * np.trace(H @ C)) / (losses.std(ddof=1) / math.sqrt(runs))
    return CheckResult(CLAIM, SOURCE, f"Lyapunov residual {resid:.1e}", float(abs(z)), 4.0, symbolic_ok=resid < 1e-10,
                       note=f"d={dim}, η·λmax=0.5, {runs} runs × {steps} steps: |z| of the MC stationary loss")
