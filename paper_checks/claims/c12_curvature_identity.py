"""Along η₁,₂ = s/2 ± t: d²L/dt²|₀ = −2 ∂L/∂p at p = s²/4 (any L(s, p))."""

from __future__ import annotations


from implicit_bias_lab.paper_checks.catalogue import CheckResult

CLAIM = "curvature identity d²L/dt²|_{t=0} = −2 ∂L/∂p|_{p=s²/4} for the 1- and 2-step forms"
SOURCE = "docs/theory.md s8.4 (derived)"


def check(size: str) -> CheckResult:
    from implicit_bias_lab.sde.closed_form import linear_net_surrogate as T

    sym_ok = all(T.curvature_identity_residual(T.surrogate_loss(d, k)) == 0 for d in (2, 3) for k in (1, 2))
    err = 0.0
    for depth, h, s in ((2, 256.0, 2000.0), (3, 256.0, 20.0)):
        for k in (1, 2):
            f = lambda t: T.loss_at_rates(depth, k, s / 2 + t, s / 2 - t, h)  # noqa: E731
            dt = s * 1e-3
            fd = (f(dt) - 2 * f(0.0) + f(-dt)) / dt**2
            dp = T.sp.lambdify((T.s, T.p, T.h), T.dL_dp(depth, k), "numpy")(s, s * s / 4, h)
            err = max(err, abs(fd + 2 * dp) / abs(2 * dp))
    return CheckResult(CLAIM, SOURCE, "sympy: residual 0 for all four forms", float(err), 1e-4, symbolic_ok=sym_ok,
                       note="numeric: central second difference along the budget line vs −2∂pL (relative)")
