"""After two GD steps equal rates win inside a window of budgets; edges from ∂L₂/∂p = 0."""

from __future__ import annotations

import numpy as np

from implicit_bias_lab.paper_checks.catalogue import CheckResult

CLAIM = "step 2: equal rates are a local min on η₁+η₂ = s iff s lies in the computed window (exact GD agrees)"
SOURCE = "Pang et al. ICML 2026 (abstract: equal LRs best later); docs/theory.md s8.4 table"

TABLE = {256: ((263.03, 8182.9), (0.5120, 43.36)), 512: ((518.88, 27830.0), (0.5059, 71.37)),
         1000: ((1006.82, 88753.0), (0.5030, 114.50)), 2048: ((2054.78, 301831.0), (0.5015, 188.68))}


def check(size: str) -> list[CheckResult]:
    from implicit_bias_lab.sde.closed_form import linear_net_gd as GD
    from implicit_bias_lab.sde.closed_form import linear_net_surrogate as T

    rel = 0.0
    for w, (w2, w3) in TABLE.items():
        rel = max(rel, float(np.max(np.abs(np.array(T.balance_window(2, w)) / np.array(w2) - 1))),
                  float(np.max(np.abs(np.array(T.balance_window(3, w)) / np.array(w3) - 1))))
    rows = [CheckResult(CLAIM + " [edges vs table]", SOURCE, "roots of ∂pL₂(s, s²/4) = 0", rel, 2e-4,
                        note="max relative difference of the computed window edges from the table of docs/theory.md s8.4")]
    width, inside, outside, seeds = (64, 8.0, 30.0, 16) if size == "small" else (256, 32.0, 60.0, 8)
    lines = [GD.layer_rates(GD.uniform_budget_line(b, 9, 3), b, 3) for b in (inside, outside)]
    L = GD.seeds_test_losses(0, seeds, np.concatenate(lines), depth=3, width=width, num_steps=2)[:, :, 2].mean(0)
    win = T.balance_window(3, width)
    ok_in = int(np.argmin(L[:9])) == 4 and win[0] < inside < win[1]
    ok_out = int(np.argmin(L[9:])) != 4 and not (win[0] < outside < win[1])
    rows.append(CheckResult(CLAIM + " [exact GD]", SOURCE, f"window at h={width}: [{win[0]:.3f}, {win[1]:.2f}]",
                            0.0 if (ok_in and ok_out) else 1.0, 0.0,
                            note=f"3-layer h={width}, {seeds} seeds: midpoint argmin at lr_max={inside:g} (inside) {ok_in}; "
                            f"argmin leaves the midpoint at lr_max={outside:g} (outside) {ok_out}; "
                            f"losses mid/ends inside {L[4]:.3f}/{L[0]:.3f}"))
    return rows
