"""The paper-checks catalogue (paper_checks/claims/): every claim passes at size "small", and the
check mechanism fails when a formula is deliberately wrong (a test that cannot fail is a defect)."""

from __future__ import annotations

import numpy as np
import pytest

from implicit_bias_lab.paper_checks.catalogue import discover_claims, run_claim

CLAIMS = discover_claims()


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_claim_passes_at_small_size(name):
    rows = run_claim(name, CLAIMS[name], "small")
    assert rows, f"{name} returned no rows"
    for r in rows:
        assert r.source and r.claim
        assert r.passed, (
            f"{name}: {r.claim!r} failed: symbolic={r.symbolic!r} (ok={r.symbolic_ok}), "
            f"numeric error {r.numeric_error:.3g} > tolerance {r.tolerance:.3g}; {r.note}"
        )


def _failed(rows, fragment):
    """Rows whose claim contains `fragment`; asserts there is at least one and returns whether all failed."""
    hits = [r for r in rows if fragment in r.claim]
    assert hits, f"no row mentions {fragment!r}: {[r.claim for r in rows]}"
    return all(not r.passed for r in hits)


def test_c02_detects_a_wrong_fibre_minimum(monkeypatch):
    """A weighted ℓ½ with a factor 2 too much (2·2Σ√(m|w|)) must fail the fibre-minimum row."""
    mod = CLAIMS["c02_diagonal_net_regularizers"]
    right = mod.weighted_l_half
    monkeypatch.setattr(mod, "weighted_l_half", lambda w, m: 2.0 * right(w, m))
    rows = mod.check("small")
    assert _failed(rows, "fibre")
    assert all(r.passed for r in rows if "fibre" not in r.claim)


def test_c05_detects_the_printed_adam_flow(monkeypatch):
    """Replacing the lab's corrected Adam velocity by Li–Wen–Lyu's printed Theorem 5.1 must fail both the
    autodiff-through-Φ_S row and the direct simulation of discrete RMSprop."""
    from implicit_bias_lab.sde import slow

    mod = CLAIMS["c05_adam_slow_flow"]
    monkeypatch.setattr(slow, "adam_label_noise_velocity", slow.adam_printed_velocity)
    rows = mod.check("small")
    assert _failed(rows, "corrected flow")
    assert _failed(rows, "discrete RMSprop")


def test_c04_detects_a_factor_two_in_the_sgd_drift(monkeypatch):
    """−(c/2)P_∥∇tr H instead of −(c/4)P_∥∇tr H must fail the autodiff row and the discrete label-noise GD row."""
    from implicit_bias_lab.sde import slow

    mod = CLAIMS["c04_lwa_projection_drift"]
    right = slow.sgd_label_noise_velocity
    monkeypatch.setattr(slow, "sgd_label_noise_velocity", lambda *a, **k: 2.0 * right(*a, **k))
    rows = mod.check("small")
    assert _failed(rows, "½∂²Φ[cH]")
    assert _failed(rows, "label-noise GD")


def test_c07_detects_wrong_equilibrium_constants(monkeypatch):
    """‖w‖⁴ off by a factor 2 and an angular update √(ηλ) instead of √(2ηλ) must both fail."""
    mod = CLAIMS["c07_weight_decay_equilibrium"]
    monkeypatch.setattr(mod, "equilibrium_norm4", lambda eta, lam, G2: eta * G2 / (2 * lam * (2 - eta * lam)))
    monkeypatch.setattr(mod, "angular_update", lambda eta, lam: np.sqrt(eta * lam))
    rows = mod.check("small")
    assert len(rows) == 2 and not rows[0].passed and not rows[1].passed


def test_ibl_check_writes_checks_md(tmp_path, capsys):
    from implicit_bias_lab.experiments.cli import main

    out = tmp_path / "chk"
    assert main(["check", "--size", "small", "--only", "c01_trace_sqrt_rotation", "--out", str(out)]) == 0
    text = (out / "checks.md").read_text()
    assert "c01_trace_sqrt_rotation" in text and "| pass |" in text and "FAIL" not in text
    assert "3 passed, 0 failed" in capsys.readouterr().out
