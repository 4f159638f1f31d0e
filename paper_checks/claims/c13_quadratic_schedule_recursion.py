"""Exact expected loss of SGD on a noisy quadratic under any LR schedule (second-moment recursion)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab.paper_checks.catalogue import CheckResult

CLAIM = "E L(t) of SGD on a quadratic under cosine/WSD/step schedules = second-moment recursion (= Abel form)"
SOURCE = "docs/theory.md s8.7 (derived); multi-power law, Luo et al. ICLR 2025"


def check(size: str) -> list[CheckResult]:
    from implicit_bias_lab.models.noisy_quadratic import power_law_quadratic
    from implicit_bias_lab.sde.closed_form import expected_loss, expected_loss_abel, lr_schedule, monte_carlo_losses

    dim, T, runs = (60, 400, 2000) if size == "small" else (200, 2000, 4000)
    prob = power_law_quadratic(dim, 1.5, "proportional", 0.5, 1.0)
    out = []
    for i, name in enumerate(("cosine", "wsd", "step")):
        etas = jnp.asarray(lr_schedule(name, T, 0.5))
        exact = np.asarray(expected_loss(prob, etas))
        abel = abs(float(expected_loss_abel(prob, etas)) - exact[-1])
        every = T // 10
        mc = np.asarray(monte_carlo_losses(prob, etas, jax.random.PRNGKey(10 + i), runs, every))
        z = (mc.mean(0)[1:] - exact[::every][1:]) / (mc.std(0, ddof=1)[1:] / math.sqrt(runs))
        out.append(CheckResult(CLAIM + f" [{name}]", SOURCE, f"Abel form − recursion = {abel:.1e}", float(np.max(np.abs(z))), 4.0,
                               symbolic_ok=abel < 1e-12, note=f"d={dim}, T={T}, {runs} MC runs: max |z| over 10 times"))
    return out
