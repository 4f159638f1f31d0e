"""The signal-only surrogate is close to exact GD: gap O(1/h) after one step, larger after two."""

from __future__ import annotations

from implicit_bias_lab.paper_checks.catalogue import CheckResult

CLAIM = "exact GD exceeds the surrogate closed form by O(1/h) after 1 step and O(h^-1/2) after 2 (2-layer, balanced)"
SOURCE = "Pang et al. ICML 2026, Lemma 5.2 [repro]; docs/theory.md s8.3 (0.145 % / 1.63 % at h = 1000)"


def check(size: str) -> list[CheckResult]:
    from implicit_bias_lab.sde.closed_form import linear_net_gd as GD
    from implicit_bias_lab.sde.closed_form import linear_net_surrogate as T

    widths = (64, 128) if size == "small" else (256, 512)
    out = []
    for h in widths:
        eta = 0.632 * h**1.5  # the line through the official lr_max = 40000 at h = 1000
        L = GD.seeds_test_losses(0, 4, [[eta, eta]], depth=2, width=h, num_steps=2).mean(0)[0]
        g1 = L[1] / T.loss_at_rates(2, 1, eta, eta, h) - 1
        g2 = L[2] / T.loss_at_rates(2, 2, eta, eta, h) - 1
        # error: how far the gaps exceed the bounds 3/h and 3/√h (≤ 0 inside), and positivity
        err = max(g1 * h / 3 - 1, g2 * h**0.5 / 3 - 1, 0.0 if min(g1, g2) > 0 else 1.0)
        out.append(CheckResult(CLAIM + f" [h={h}]", SOURCE, "bounds 3/h and 3/√h", err, 0.0,
                               note=f"2-layer h={h}, η₁=η₂={eta:.0f}: gap step 1 {100 * g1:.3f} %, step 2 {100 * g2:.2f} %"))
    return out
