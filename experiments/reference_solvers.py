"""Reference solvers for the implicit biases' limits on sparse regression (Xw = y).

* Weighted ℓ1 (the label-noise SGD limit, LWA 2022; weights m_i = (XᵀX/n)_ii): linear program
  min Σ m_i (a_i + b_i) s.t. X(a − b) = y, a, b ≥ 0, solved by a dense primal–dual interior-point
  method whose linear algebra is n × n (normal equations X(D_a + D_b)Xᵀ), then polished to the
  optimal vertex; HiGHS (simplex, ≈ 4n iterations) is kept as the cross-check (`method="highs"`).
* Local weighted ℓ½ (the Adam limit, Li–Wen–Lyu 2025 §5): majorize–minimize on
  R(w) = Σ √(m_i |w_i|): each step solves the weighted ℓ1 program with weights
  ω_i = √m_i / (2√(|w_i^{(t)}| + τ)), the tangent of the concave √ at the current point, so R
  decreases monotonically to a stationary point near the start (ℓ½ is non-convex: every
  n-sparse basic solution is a local minimizer, so the start matters). τ → 0 along the iterations.
* Minimum-ℓ2 interpolant (the kernel regime).
"""

from __future__ import annotations


import numpy as np
import scipy.linalg
from scipy.optimize import linprog


METHODS = ("ipm", "highs")


def _check_problem(X, y, weights):
    """Validated float64 copies (X: n×d, y: n, weights: d, finite and ≥ 0)."""
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-d array (n × d), got shape {X.shape}")
    n, d = X.shape
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match X of shape {X.shape}, got {y.shape}")
    weights = np.ones(d) if weights is None else np.asarray(weights, dtype=float)
    if weights.shape != (d,):
        raise ValueError(f"weights must have shape ({d},) to match X of shape {X.shape}, got {weights.shape}")
    for name, value in (("X", X), ("y", y), ("weights", weights)):
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} has non-finite entries")
    if np.any(weights < 0):
        raise ValueError("weights must be non-negative")
    return X, y, weights


def weighted_l1_interpolant(
    X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, method: str = "ipm"
) -> np.ndarray:
    """argmin Σ weights_i |w_i| s.t. Xw = y (weights default to 1).

    method="ipm": the dense primal–dual interior-point method `_weighted_l1_ipm` (n × n normal
    equations, then a polish to the optimal vertex); method="highs": HiGHS (scipy.linprog) on the
    split LP, the slower cross-check. Raises RuntimeError when Xw = y has no solution or a solver fails.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    X, y, weights = _check_problem(X, y, weights)
    if method == "ipm":
        with _blas_threads(1):  # see _blas_threads: one thread is the faster on shared cores
            return _weighted_l1_ipm(X, y, weights)
    d = X.shape[1]
    cost = np.concatenate([weights, weights])
    res = linprog(cost, A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs")
    if res.status != 0:
        raise RuntimeError(f"weighted-l1 linear program failed (HiGHS): {res.message}")
    return res.x[:d] - res.x[d:]


def _independent_rows(X: np.ndarray, y: np.ndarray, rtol: float = 1e-10):
    """(X, y) with dependent rows removed, or RuntimeError when Xw = y has no solution.

    X Xᵀ is factored by Cholesky when it is well conditioned (the usual case, full row rank);
    otherwise X Xᵀ = U Λ Uᵀ and the equations are replaced by U_rᵀ X w = U_rᵀ y over the
    eigenvalues above rtol·max, after checking that y lies in the range of X.
    """
    n = X.shape[0]
    gram = X @ X.T
    scale = max(float(np.max(np.diag(gram))), np.finfo(float).tiny)
    try:
        factor = scipy.linalg.cho_factor(gram, lower=True, check_finite=False)
        if np.min(np.diag(factor[0])) ** 2 > 1e3 * rtol * scale:
            return X, y, gram, factor
    except np.linalg.LinAlgError:
        pass
    evals, evecs = np.linalg.eigh(gram)
    keep = evals > rtol * max(float(evals[-1]), np.finfo(float).tiny)
    u = evecs[:, keep]
    outside = y - u @ (u.T @ y)
    if np.linalg.norm(outside) > 1e-8 * max(np.linalg.norm(y), 1.0):
        raise RuntimeError(
            f"weighted-l1 problem is infeasible: y is not in the range of X (X has numerical rank "
            f"{int(keep.sum())} < n = {n}; the residual of y outside it is {np.linalg.norm(outside):.3g})"
        )
    X, y = u.T @ X, u.T @ y
    gram = np.diag(evals[keep])
    return X, y, gram, scipy.linalg.cho_factor(gram, lower=True, check_finite=False)


def _factor(M: np.ndarray):
    """Cholesky of the normal matrix; near the end it can be numerically singular (a support of
    fewer than n columns), so retry with a growing diagonal shift and finally fall back to eigh."""
    scale = max(float(np.max(np.diag(M))), np.finfo(float).tiny)
    for shift in (0.0, 1e-14, 1e-12, 1e-10):
        try:
            A = M if shift == 0.0 else M + (shift * scale) * np.eye(M.shape[0])
            factor = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
            return lambda r, f=factor: scipy.linalg.cho_solve(f, r, check_finite=False)
        except np.linalg.LinAlgError:
            continue
    evals, evecs = np.linalg.eigh(M)
    inv = np.where(evals > 1e-14 * evals[-1], 1.0 / np.maximum(evals, np.finfo(float).tiny), 0.0)
    return lambda r: evecs @ (inv * (evecs.T @ r))


def _blas_threads(count: int):
    """All loaded BLAS libraries at `count` threads inside the block (threadpoolctl). The IPM's
    Cholesky factorizations are n × n with n ≤ a few thousand: on 2 shared cores multithreaded
    OpenBLAS potrf measured 1.3 s against 0.02 s on one thread at n = 1000, and the n × d syrk was
    no faster on two threads than on one."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=count, user_api="blas")


def _weighted_l1_ipm(
    X: np.ndarray, y: np.ndarray, weights: np.ndarray, tol: float = 1e-10, max_iter: int = 100,
    polish_from: float = 1e-3, max_correctors: int = 2,
) -> np.ndarray:
    """argmin Σ ω_i|w_i| s.t. Xw = y by a primal–dual interior-point method.

    The LP in standard form: with w = a − b,
        primal  min cᵀx  s.t. Ax = y, x ≥ 0,   x = (a; b) ∈ ℝ^{2d}, A = [X, −X], c = (ω; ω);
        dual    max yᵀλ  s.t. Aᵀλ + s = c, s ≥ 0,   i.e. s = (ω − Xᵀλ; ω + Xᵀλ) ≥ 0 ⇔ |Xᵀλ| ≤ ω.
    Each iteration is Mehrotra's predictor–corrector (S. Mehrotra, "On the implementation of a
    primal-dual interior point method", SIAM J. Optim. 2(4), 1992; S. J. Wright, Primal-Dual
    Interior-Point Methods, SIAM 1997, ch. 10): for a right-hand side r_xs of the linearized
    complementarity x∘s, the Newton system A Δx = r_p, AᵀΔλ + Δs = r_d, s∘Δx + x∘Δs = r_xs
    (r_p = y − Ax, r_d = c − Aᵀλ − s) reduces to the normal equations
        A D Aᵀ Δλ = r_p − A(r_xs/s) + A D r_d,   D = diag(x/s),   A D Aᵀ = X (D_a + D_b) Xᵀ,
    an n × n system factored once per iteration by Cholesky and solved for the affine predictor
    (r_xs = −x∘s) and the corrector (r_xs = σμ − x∘s − Δx_aff∘Δs_aff, σ = (μ_aff/μ)³), then for
    up to `max_correctors` of Gondzio's centrality correctors (J. Gondzio, "Multiple centrality
    corrections in a primal-dual method for linear programming", Comput. Optim. Appl. 6, 1996),
    kept while they lengthen the step: the factorization (n²d flops for X(D_a + D_b)Xᵀ) dominates
    an iteration, a further solve costs only two products with X. Steps go a fraction
    max(0.9, 1 − μ) (at most 0.99995) of the way to the boundary. The start is Mehrotra's: the
    least-norm solution of Ax = y and s = c, shifted into the positive orthant. Near the end the
    normal matrix can be numerically singular (a support smaller than n): `_factor` then adds a
    small diagonal shift, or solves through eigh.

    Crossover-like polish (`_polish`): once the relative residuals and gap are below
    `polish_from` and at most max(2, n/20) coordinates have x_i/s_i within [10⁻², 10²], a
    candidate support S is read off the iterate — the indicator set
    {i: a_i > s_a,i or b_i > s_b,i}, and when it has fewer than n elements also the n largest
    max(a_i/s_a,i, b_i/s_b,i) (a nondegenerate vertex has n nonzeros). If X_S has full column rank,
    X_S w_S = y holds exactly for its least-squares solution, and the multiplier λ moved (least
    norm) to satisfy X_Sᵀλ = ω_S∘sign(w_S) is dual feasible (|X_iᵀλ| ≤ ω_i + tolerance for every
    i), then (w_S, 0) is an optimal vertex — primal and dual feasible with equal objectives
    ωᵀ|w| = yᵀλ — and is returned, with exact zeros off S. Otherwise the iterations go on, and the
    IPM iterate is returned once the relative primal and dual residuals and the relative duality
    gap are all ≤ tol; RuntimeError after max_iter iterations.

    The problem is scaled to ‖y‖∞ = 1 and max ω = 1; dependent rows of X are dropped first
    (`_independent_rows`, RuntimeError if y is outside the range of X), and zero weights are
    eliminated before the IPM (`_eliminate_free_columns`).
    """
    n0, d = X.shape
    y_scale = float(np.max(np.abs(y)))
    if y_scale == 0.0:
        return np.zeros(d)
    free = weights == 0
    if np.any(free):
        return _eliminate_free_columns(
            X, y, weights, free, tol=tol, max_iter=max_iter, polish_from=polish_from, max_correctors=max_correctors
        )
    w_scale = float(np.max(weights))
    # Scaled problem: y/‖y‖∞ and ω/max ω (the solution w scales with y, not with ω).
    X, y, _, gram_factor = _independent_rows(X, y / y_scale)
    omega = weights / w_scale
    n = X.shape[0]
    N = 2 * d
    c_norm = 1.0 + np.sqrt(2.0) * np.linalg.norm(omega)
    y_norm = 1.0 + np.linalg.norm(y)

    # Mehrotra's starting point: x̃ = Aᵀ(AAᵀ)⁻¹y (a = −b = w_ls/2), λ̃ = (AAᵀ)⁻¹Ac = 0, s̃ = c.
    w_ls = X.T @ scipy.linalg.cho_solve(gram_factor, y, check_finite=False)
    a, b = 0.5 * w_ls, -0.5 * w_ls
    sa, sb = omega.copy(), omega.copy()
    lam = np.zeros(n)
    dx = max(-1.5 * min(a.min(), b.min()), 0.0)
    ds = max(-1.5 * min(sa.min(), sb.min()), 0.0)
    a, b, sa, sb = a + dx, b + dx, sa + ds, sb + ds
    xs = a @ sa + b @ sb
    a, b = a + 0.5 * xs / (sa.sum() + sb.sum()), b + 0.5 * xs / (sa.sum() + sb.sum())
    sa, sb = sa + 0.5 * xs / (a.sum() + b.sum()), sb + 0.5 * xs / (a.sum() + b.sum())
    a, b = np.maximum(a, 1e-8), np.maximum(b, 1e-8)  # (ω > 0 here, so s > 0 already)

    def step_to_boundary(v, dv):
        neg = dv < 0
        return min(1.0, float(np.min(-v[neg] / dv[neg]))) if np.any(neg) else 1.0

    tried = []  # supports already tried by the polish
    B = np.empty_like(X)
    for iteration in range(max_iter):
        Xt_lam = X.T @ lam
        rp = y - X @ (a - b)
        rda = omega - Xt_lam - sa
        rdb = omega + Xt_lam - sb
        primal, dual = a @ omega + b @ omega, y @ lam
        mu = (a @ sa + b @ sb) / N
        rel_p = np.linalg.norm(rp) / y_norm
        rel_d = np.sqrt(rda @ rda + rdb @ rdb) / c_norm
        rel_gap = abs(primal - dual) / (1.0 + abs(primal))
        ratio = np.maximum(a / sa, b / sb)
        undecided = np.count_nonzero((ratio > 1e-2) & (ratio < 1e2))
        if max(rel_gap, rel_p, rel_d) < polish_from and undecided <= max(2, n // 20):
            # Each try costs a QR of X_S, so only once nearly every coordinate is clearly on or off
            # the support (x_i/s_i far from 1). Candidate supports: the indicator set {x_i > s_i},
            # and, when it is a little smaller than n (a basic solution has n nonzeros unless it is
            # degenerate), the n largest x_i/s_i.
            candidates = [ratio > 1.0]
            if n - max(2, n // 50) <= candidates[0].sum() < n:
                top = np.zeros(d, dtype=bool)
                top[np.argpartition(-ratio, n - 1)[:n]] = True
                candidates.append(top)
            for support in candidates:
                if any(np.array_equal(support, s) for s in tried):
                    continue
                tried.append(support)
                w = _polish(X, y, omega, a - b, lam, support)
                if w is not None:
                    return y_scale * w
        if rel_p <= tol and rel_d <= tol and rel_gap <= tol:
            return y_scale * (a - b)

        da, db = a / sa, b / sb
        np.multiply(X, np.sqrt(da + db), out=B)  # B Bᵀ = X (D_a + D_b) Xᵀ (numpy calls syrk)
        solve = _factor(B @ B.T)

        def direction(rxa, rxb, residuals=True):
            # A D Aᵀ Δλ = r_p − A(r_xs/s) + A D r_d, with A v = X(v_a − v_b).
            if residuals:
                rhs = rp - X @ (rxa / sa - rxb / sb - da * rda + db * rdb)
            else:  # a centrality correction: r_p = r_d = 0
                rhs = -(X @ (rxa / sa - rxb / sb))
            dlam = solve(rhs)
            Xt_dlam = X.T @ dlam
            dsa, dsb = (rda - Xt_dlam, rdb + Xt_dlam) if residuals else (-Xt_dlam, Xt_dlam)
            return (rxa - a * dsa) / sa, (rxb - b * dsb) / sb, dlam, dsa, dsb

        # Predictor (affine scaling).
        daa, dba, _, dsaa, dsba = direction(-a * sa, -b * sb)
        alpha_p = min(step_to_boundary(a, daa), step_to_boundary(b, dba))
        alpha_d = min(step_to_boundary(sa, dsaa), step_to_boundary(sb, dsba))
        mu_aff = ((a + alpha_p * daa) @ (sa + alpha_d * dsaa) + (b + alpha_p * dba) @ (sb + alpha_d * dsba)) / N
        sigma = (mu_aff / mu) ** 3
        # Corrector (centering + second-order term), same factorization.
        step = direction(sigma * mu - a * sa - daa * dsaa, sigma * mu - b * sb - dba * dsba)
        alpha_p = min(step_to_boundary(a, step[0]), step_to_boundary(b, step[1]))
        alpha_d = min(step_to_boundary(sa, step[3]), step_to_boundary(sb, step[4]))
        # Gondzio's multiple centrality correctors (J. Gondzio, Comput. Optim. Appl. 6, 1996): aim at a
        # longer step by pulling the complementarity products of the trial point into
        # [β_min σμ, β_max σμ]; each costs two products with X and a solve with the same factor.
        for _ in range(max_correctors):
            trial_p, trial_d = min(1.0, alpha_p + 0.2), min(1.0, alpha_d + 0.2)
            if alpha_p >= 1.0 and alpha_d >= 1.0:
                break
            target = sigma * mu
            va = (a + trial_p * step[0]) * (sa + trial_d * step[3])
            vb = (b + trial_p * step[1]) * (sb + trial_d * step[4])
            ta = np.maximum(np.clip(va, 0.1 * target, 10.0 * target) - va, -10.0 * target)
            tb = np.maximum(np.clip(vb, 0.1 * target, 10.0 * target) - vb, -10.0 * target)
            correction = direction(ta, tb, residuals=False)
            new = tuple(s + c for s, c in zip(step, correction))
            new_p = min(step_to_boundary(a, new[0]), step_to_boundary(b, new[1]))
            new_d = min(step_to_boundary(sa, new[3]), step_to_boundary(sb, new[4]))
            if new_p + new_d < alpha_p + alpha_d + 0.02:
                break
            step, alpha_p, alpha_d = new, new_p, new_d
        dA, dB, dlam, dSa, dSb = step
        eta = min(0.99995, max(0.9, 1.0 - mu))  # fraction of the step to the boundary
        alpha_p = min(1.0, eta * min(step_to_boundary(a, dA), step_to_boundary(b, dB)))
        alpha_d = min(1.0, eta * min(step_to_boundary(sa, dSa), step_to_boundary(sb, dSb)))
        a, b = a + alpha_p * dA, b + alpha_p * dB
        lam, sa, sb = lam + alpha_d * dlam, sa + alpha_d * dSa, sb + alpha_d * dSb
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(lam))):
            break
    raise RuntimeError(
        f"weighted-l1 interior-point method did not converge in {iteration + 1} iterations "
        f"(n = {n0}, d = {d}): relative primal residual {rel_p:.2e}, dual residual {rel_d:.2e}, "
        f"duality gap {rel_gap:.2e} (tolerance {tol:g})"
    )


def _eliminate_free_columns(X, y, weights, free, **ipm_options):
    """The weighted-ℓ1 program with zero weights on the columns `free` (so w_free is unpenalized).

    A zero weight leaves the dual {|Xᵀλ| ≤ ω} without interior (X_iᵀλ = 0 is forced), so the IPM
    is not run on it: with X_F = U diag(σ) Vᵀ (rank r) and U_⊥ the last n − r columns of U, the
    constraints not involving w_F are U_⊥ᵀ X_P w_P = U_⊥ᵀ y; that program (positive weights) gives
    w_P, then w_F is the least-norm solution of X_F w_F = y − X_P w_P (w_F = 0 for zero columns).
    """
    n, d = X.shape
    XF, XP = X[:, free], X[:, ~free]
    U, sv, _ = np.linalg.svd(XF, full_matrices=True)
    rank = int(np.sum(sv > 1e-12 * sv[0])) if sv.size and sv[0] > 0 else 0
    U_perp = U[:, rank:]
    w = np.zeros(d)
    if XP.shape[1] > 0 and U_perp.shape[1] > 0:
        w[~free] = _weighted_l1_ipm(U_perp.T @ XP, U_perp.T @ y, weights[~free], **ipm_options)
    w[free] = np.linalg.lstsq(XF, y - XP @ w[~free], rcond=None)[0]
    residual = np.linalg.norm(X @ w - y)
    if residual > 1e-8 * max(np.linalg.norm(y), 1.0):
        raise RuntimeError(
            f"weighted-l1 problem is infeasible: y is not in the range of X (residual {residual:.3g})"
        )
    return w


def _polish(X, y, omega, w, lam, support, ptol: float = 1e-9, dtol: float = 1e-9):
    """The optimal vertex with support `support` if the KKT conditions certify it, else None (scaled units)."""
    n, d = X.shape
    k = int(support.sum())
    if k == 0 or k > n:
        return None
    XS = X[:, support]
    Q, R = np.linalg.qr(XS)
    diag = np.abs(np.diag(R))
    if diag.min() <= 1e-10 * diag.max():
        return None  # X_S is (numerically) rank deficient
    wS = scipy.linalg.solve_triangular(R, Q.T @ y, check_finite=False)
    if np.linalg.norm(XS @ wS - y) > ptol * (1.0 + np.linalg.norm(y)):
        return None  # y is not in the span of the support's columns
    # Signs of the vertex; a basic value that is exactly 0 takes the iterate's sign (any σ_i in
    # [−1, 1] is a subgradient of |w_i| at 0).
    sign = np.where(wS != 0, np.sign(wS), np.sign(w[support]))
    # λ moved by the least-norm correction making X_Sᵀλ = ω_S∘σ exact.
    lam = lam + Q @ scipy.linalg.solve_triangular(R, omega[support] * sign - XS.T @ lam, trans="T", check_finite=False)
    if np.max(np.abs(X.T @ lam) - omega) > dtol:
        return None
    out = np.zeros(d)
    out[support] = wS
    return out


def column_second_moments(X: np.ndarray) -> np.ndarray:
    """m_i = (XᵀX/n)_ii (= 1 for ±1 data)."""
    X = np.asarray(X, float)
    return np.mean(X * X, axis=0)


def local_weighted_lhalf_interpolant(
    X: np.ndarray, y: np.ndarray, start: np.ndarray, iterations: int = 12, tau0: float = 1e-1, method: str = "ipm"
) -> np.ndarray:
    """A stationary point of Σ √(m_i|w_i|) on {Xw = y}, reached by majorize–minimize from `start`
    (each step a weighted-ℓ1 program solved by `method`, see `weighted_l1_interpolant`)."""
    m = column_second_moments(X)
    w = np.asarray(start, float)
    tau = tau0
    for _ in range(iterations):
        weights = np.sqrt(m) / (2.0 * np.sqrt(np.abs(w) + tau))
        w = weighted_l1_interpolant(X, y, weights, method=method)
        tau = max(tau * 0.3, 1e-8)
    return w


def min_l2_interpolant(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(np.asarray(X, float), np.asarray(y, float), rcond=None)[0]


def lhalf_objective(X: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(np.sqrt(column_second_moments(X) * np.abs(w))))
