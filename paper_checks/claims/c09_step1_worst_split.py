"""After one GD step equal layer rates are the worst split of a budget."""

from __future__ import annotations

import math

import numpy as np
import sympy as sp

from implicit_bias_lab.paper_checks.catalogue import CheckResult

CLAIM = "step 1: ∂L₁/∂p > 0, so η₁ = η₂ is the worst point on η₁ + η₂ = const (exact GD too)"
SOURCE = "Pang et al. ICML 2026 (abstract: unequal LRs best at step 1); docs/theory.md s8.4"


def check(size: str) -> CheckResult:
    from implicit_bias_lab.sde.closed_form import linear_net_gd as GD
    from implicit_bias_lab.sde.closed_form import linear_net_surrogate as T

    h = T.h
    sym_ok = sp.simplify(T.dL_dp(2, 1) - 2 * (h**2 + T.p) / h**7) == 0 and sp.simplify(T.dL_dp(3, 1) - 2 * (h + T.p) / h**4) == 0
    width, lr_max, seeds = (64, 8.0, 48) if size == "small" else (256, 32.0, 16)
    rates = GD.layer_rates(GD.uniform_budget_line(lr_max, 9, 3), lr_max, 3)
    L = GD.seeds_test_losses(0, seeds, rates, depth=3, width=width, num_steps=1)[:, :, 1]
    mid = 4
    zs = []
    for j in (0, 8):
        d = L[:, mid] - L[:, j]
        zs.append(d.mean() / (d.std(ddof=1) / math.sqrt(seeds)))
    ok = int(np.argmax(L.mean(0))) == mid
    # numeric error: 3 − (smallest paired z of midpoint above the ends), ≤ 0 when it is > 3 s.e.
    err = 3.0 - min(zs) if ok else math.inf
    return CheckResult(CLAIM, SOURCE, "∂pL₁ = 2(h²+p)/h⁷ (2-layer), 2(h+p)/h⁴ (3-layer)", err, 0.0, symbolic_ok=sym_ok,
                       note=f"exact GD, 3-layer, h={width}, lr_max={lr_max:g}, {seeds} seeds: midpoint is the argmax={ok}, paired z vs ends {min(zs):.1f}")
