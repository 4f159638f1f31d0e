"""Claim 1: tr H^½ is rotation invariant, tr Diag(H)^½ is not, and tr Diag(H)^½ ≥ tr H^½.

Source: Li, Wen, Lyu (NeurIPS 2025) §5 ("Adam reduces a unique form of sharpness": Adam's
regularizer tr Diag(H)^½ is basis dependent, unlike SGD's tr H); docs/theory.md#45-fixed-points-and-regularizers, docs/theory.md#46-experiments-of-li-wen-lyu.

Symbolic (sympy, exact):
* the worked example H = ((2,2),(2,2)): tr H = 4, tr H^½ = 2, tr Diag(H)^½ = 2√2, and after a
  45° rotation (RHRᵀ = Diag(4, 0)) tr Diag^½ = 2 while tr H^½ stays 2;
* for every 2×2 PSD H = ((a,b),(b,c)): R = (H + √det H·I)/√(tr H + 2√det H) satisfies R² = H and
  is PSD, so tr H^½ = √(tr H + 2√det H) depends only on the rotation invariants tr H, det H;
* (tr Diag(H)^½)² − (tr H^½)² = 2(√(ac) − √(ac − b²)) ≥ 0, since (√(ac))² − (√(ac−b²))² = b² ≥ 0:
  **tr Diag(H)^½ ≥ tr H^½**, equality iff b = 0. (For any size: H_jj = Σ_k λ_k V_jk², and
  concavity of √ with weights V_jk² (Σ_k V_jk² = 1) gives √H_jj ≥ Σ_k V_jk²√λ_k; sum over j.)

Numeric (float64, numpy/JAX, the lab's `models.sharpness`):
* row "example": eigh-based tr H^½ and `trace_sqrt_diag_hessian` on the example. H is singular,
  so its zero eigenvalue comes out as ±O(1e-16) and its square root as O(1e-8): tolerance 1e-7.
* row "rotation": random well-conditioned PSD H (λ_min ≥ 0.05, sizes 2–6) and random orthogonal Q:
  max relative change of tr (QHQᵀ)^½ — float64 round-off, tolerance 1e-10 — while tr Diag(QHQᵀ)^½
  must change by > 1 % (otherwise the row fails: the claim "it is not invariant" would be untested).
* row "inequality": max over random PSD H (ranks 1..D, sizes 2–6) of the relative violation
  (tr H^½ − tr Diag(H)^½)/tr H^½; tolerance 1e-10 (round-off). The reverse inequality fails on the
  example (gap 2√2 − 2), which the row also requires.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from implicit_bias_lab import models
from implicit_bias_lab.paper_checks.catalogue import CheckResult
from implicit_bias_lab.paper_checks.claims._util import check_size, sym_zero

CLAIM = "tr H^½ is rotation invariant, tr Diag(H)^½ is not; tr Diag(H)^½ ≥ tr H^½ for PSD H"
SOURCE = "Li–Wen–Lyu (NeurIPS 2025) §5 (Adam's sharpness tr Diag(H)^½ vs tr H)"


def trace_sqrt(H) -> float:
    """tr H^½ from eigh (eigenvalues clipped at 0)."""
    lam = np.linalg.eigvalsh(0.5 * (np.asarray(H) + np.asarray(H).T))
    return float(np.sum(np.sqrt(np.clip(lam, 0.0, None))))


def trace_sqrt_diag(H) -> float:
    """tr Diag(H)^½ with the lab's sharpness measure."""
    return float(models.trace_sqrt_diag_hessian(np.asarray(H)))


def _rotation(phi):
    return sp.Matrix([[sp.cos(phi), -sp.sin(phi)], [sp.sin(phi), sp.cos(phi)]])


def _symbolic():
    a, c = sp.symbols("a c", nonnegative=True)
    b, phi = sp.symbols("b phi", real=True)
    H = sp.Matrix([[a, b], [b, c]])
    s = sp.sqrt(a * c - b**2)
    t = sp.sqrt(a + c + 2 * s)
    R = (H + s * sp.eye(2)) / t
    root_ok = sym_zero(R * R - H)
    # rotation invariants
    HR = _rotation(phi) * H * _rotation(phi).T
    invariants_ok = sym_zero(HR.trace() - H.trace()) and sym_zero(HR.det() - H.det())
    # the inequality: (√a+√c)² − t² = 2(√(ac) − √(ac−b²)), and ac − (ac−b²) = b² ≥ 0
    gap_sq = sp.expand((sp.sqrt(a) + sp.sqrt(c)) ** 2 - t**2)
    ineq_ok = sym_zero(gap_sq - 2 * (sp.sqrt(a) * sp.sqrt(c) - s)) and sym_zero(
        (sp.sqrt(a) * sp.sqrt(c)) ** 2 - s**2 - b**2
    )
    # worked example
    E = sp.Matrix([[2, 2], [2, 2]])
    P, D = E.diagonalize()
    E_half = P * D.applyfunc(sp.sqrt) * P.inv()
    ex = {
        "tr H": E.trace(),
        "tr H^1/2": sp.nsimplify(E_half.trace()),
        "tr Diag(H)^1/2": sum(sp.sqrt(E[i, i]) for i in range(2)),
    }
    ER = _rotation(-sp.pi / 4) * E * _rotation(-sp.pi / 4).T
    ex_rot = sp.simplify(sum(sp.sqrt(sp.simplify(ER[i, i])) for i in range(2)))
    example_ok = (
        sym_zero(E_half * E_half - E)
        and ex["tr H"] == 4
        and sym_zero(ex["tr H^1/2"] - 2)
        and sym_zero(ex["tr Diag(H)^1/2"] - 2 * sp.sqrt(2))
        and sym_zero(ER - sp.diag(4, 0))
        and sym_zero(ex_rot - 2)
    )
    return root_ok, invariants_ok, ineq_ok, example_ok, ex, ex_rot


def _random_psd(rng, D, rank=None, floor=0.0):
    A = rng.standard_normal((D, D if rank is None else rank))
    return A @ A.T + floor * np.eye(D)


def _random_orthogonal(rng, D):
    Q, R = np.linalg.qr(rng.standard_normal((D, D)))
    return Q * np.sign(np.diag(R))


def check(size: str) -> list[CheckResult]:
    full = check_size(size)
    trials = 2000 if full else 200
    rng = np.random.default_rng(20250101)
    root_ok, invariants_ok, ineq_ok, example_ok, ex, ex_rot = _symbolic()

    # --- worked example, numerically
    E = np.array([[2.0, 2.0], [2.0, 2.0]])
    got = (np.trace(E), trace_sqrt(E), trace_sqrt_diag(E))
    want = (4.0, 2.0, 2.0 * np.sqrt(2.0))
    err_example = max(abs(g - w) for g, w in zip(got, want))
    rows = [
        CheckResult(
            "worked example H=((2,2),(2,2)): tr H = 4, tr H^½ = 2, tr Diag(H)^½ = 2√2",
            SOURCE,
            f"exact: tr H={ex['tr H']}, tr H^½={ex['tr H^1/2']}, tr Diag^½={ex['tr Diag(H)^1/2']}; "
            f"rotated 45°: Diag(4,0), tr Diag^½={ex_rot}" + ("" if example_ok else " — MISMATCH"),
            err_example,
            1e-7,
            example_ok,
            note=f"numeric: tr H={got[0]:.15g}, tr H^½={got[1]:.15g}, tr Diag(H)^½={got[2]:.15g}",
        )
    ]

    # --- rotation invariance
    inv_err, diag_change = 0.0, 0.0
    for k in range(trials):
        D = 2 + k % 5
        H = _random_psd(rng, D, floor=0.05)
        Q = _random_orthogonal(rng, D)
        HQ = Q @ H @ Q.T
        base = trace_sqrt(H)
        inv_err = max(inv_err, abs(trace_sqrt(HQ) - base) / base)
        diag_change = max(diag_change, abs(trace_sqrt_diag(HQ) - trace_sqrt_diag(H)) / trace_sqrt_diag(H))
    not_invariant = diag_change > 0.01
    rows.append(
        CheckResult(
            "tr H^½ invariant under H → QHQᵀ; tr Diag(H)^½ is not",
            SOURCE,
            "2×2: tr H^½ = √(tr H + 2√det H) (R² = H verified), tr and det rotation invariant"
            + ("" if root_ok and invariants_ok else " — FAILED"),
            inv_err if not_invariant else float("inf"),
            1e-10,
            root_ok and invariants_ok,
            note=f"{trials} random H, Q: max rel. change of tr H^½ {inv_err:.2e}; of tr Diag(H)^½ {diag_change:.3f}",
        )
    )

    # --- the inequality
    worst = -np.inf
    for k in range(trials):
        D = 2 + k % 5
        H = _random_psd(rng, D, rank=1 + (k // 5) % D)
        ts = trace_sqrt(H)
        worst = max(worst, (ts - trace_sqrt_diag(H)) / ts)
    reverse_fails = got[2] - got[1] > 0.8  # 2√2 − 2 ≈ 0.83 on the example
    rows.append(
        CheckResult(
            "tr Diag(H)^½ ≥ tr H^½ for PSD H (equality iff H diagonal)",
            SOURCE,
            "2×2: (tr Diag^½)² − (tr H^½)² = 2(√(ac) − √(ac−b²)) ≥ 0 (exact); general D by Jensen"
            + ("" if ineq_ok else " — FAILED"),
            max(worst, 0.0) if reverse_fails else float("inf"),
            1e-10,
            ineq_ok,
            note=f"{trials} random PSD H (sizes 2–6, all ranks): max (tr H^½ − tr Diag^½)/tr H^½ = {worst:.3g} "
            "(≤ 0: no violation); the reverse inequality fails on the example",
        )
    )
    return rows
