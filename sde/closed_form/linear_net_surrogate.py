"""Closed forms of the test loss after GD steps in the signal-only surrogate, derived with sympy.

The exact dynamics of layer-wise GD (`sde.closed_form.linear_net_gd`) on the linear nets of
models/linear_nets.py, in closed form (docs/theory.md#83-closed-form-two-step-dynamics).
Surrogate (docs/theory.md#82-gradients-and-the-signal-only-surrogate): the residual R = V − β is replaced by −β in every gradient. With
whitened inputs, d = h, orthogonal init and ‖β‖ = ‖a‖ = 1 the surrogate iterates stay in a
finite-dimensional algebra, so the expected test loss can be derived exactly for any number of
steps — nothing is copied from the paper; the derivation is the code below.

**2-layer** (rotate so that β = I/√h; U = W₁W₂ is Haar on O(h)). With a_ℓ = η_ℓ/h^{3/2} the
surrogate step is W₁ += a₁W₂ᵀ, W₂ += a₂W₁ᵀ, so W₁⁽ᵏ⁾ = αW₁ + βW₂ᵀ, W₂⁽ᵏ⁾ = γW₂ + δW₁ᵀ with
(α, β) += a₁(δ, γ), (γ, δ) += a₂(β, α) (simultaneously), and
    hV = αγ U + (αδ + βγ) I + βδ Uᵀ.
E‖V − I/√h‖² then needs only E tr U = 0, E tr U² = 1 and tr UUᵀ = h (Haar on O(h)).

**3-layer** (W₁ square orthogonal, W₂ Haar, u = W₂a, g = W₁ᵀβ, v₀ = W₁u/√h, κ = v₀ᵀβ). The
iterates are W₁⁽ᵏ⁾ = W₁ + βxᵀ, W₂⁽ᵏ⁾ = W₂ + yaᵀ with x, y ∈ span{u, g}:
x += (η₁/√h)(u + y), y += (η₂/√h)(g + x); and W₁u = √h v₀, W₁g = β. The loss is a polynomial
in κ, whose moments are those of z/√h with z a coordinate of a uniform point on S^{h−1}:
E κ^{2m} = (2m−1)!! / (h^m · h(h+2)⋯(h+2m−2)).

Both losses are symmetric in (η₁, η₂), hence functions of s = η₁ + η₂ and p = η₁η₂.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import sympy as sp

h, s, p = sp.symbols("h s p", positive=True)
eta1, eta2, t = sp.symbols("eta_1 eta_2 t", real=True)
kappa = sp.Symbol("kappa", real=True)


# ----------------------------------------------------------------------------- derivations


def _two_layer_coefficients(steps: int, e1, e2, width):
    a1, a2 = e1 / width ** sp.Rational(3, 2), e2 / width ** sp.Rational(3, 2)
    al, be, ga, de = 1, 0, 1, 0
    for _ in range(steps):
        al, be, ga, de = al + a1 * de, be + a1 * ga, ga + a2 * be, de + a2 * al
    return al, be, ga, de


def two_layer_loss_eta(steps: int) -> sp.Expr:
    """E‖V_k − β‖² of the 2-layer surrogate after `steps` steps, as a sympy expr in η₁, η₂, h."""
    al, be, ga, de = _two_layer_coefficients(steps, eta1, eta2, h)
    c_u, c_t = al * ga / h, be * de / h
    c_i = (al * de + be * ga) / h - 1 / sp.sqrt(h)
    # E tr(AᵀA), A = c_u U + c_t Uᵀ + c_i I:  h(c_u² + c_t² + c_i²) + 2 c_u c_t E tr U²  (E tr U = 0)
    return sp.expand(h * (c_u**2 + c_t**2 + c_i**2) + 2 * c_u * c_t * 1)


def _sphere_moment(m: int, width):
    """E κ^m for κ = z/√h, z a coordinate of a uniform point on S^{h−1}."""
    if m % 2:
        return sp.Integer(0)
    k = m // 2
    num = sp.Mul(*[sp.Integer(j) for j in range(1, m, 2)])
    den = sp.Mul(*[width + 2 * j for j in range(k)])
    return num / den / width**k


def three_layer_loss_eta(steps: int) -> sp.Expr:
    """E‖v_k − β‖² of the 3-layer surrogate after `steps` steps (‖a‖ = ‖β‖ = 1, d = h)."""
    rh = sp.sqrt(h)
    gram_h = sp.Matrix([[1, rh * kappa], [rh * kappa, 1]])  # basis (u, g) of R^h
    gram_d = sp.Matrix([[1 / h, kappa], [kappa, 1]])  # basis (v₀, β) of R^d
    u, g = sp.Matrix([1, 0]), sp.Matrix([0, 1])
    x, y = sp.zeros(2, 1), sp.zeros(2, 1)
    for _ in range(steps):
        x, y = x + eta1 / rh * (u + y), y + eta2 / rh * (g + x)
    w2a = u + y  # W₂⁽ᵏ⁾a in the (u, g) basis
    # W₁⁽ᵏ⁾ w = W₁w + β xᵀw ;  W₁u = √h v₀, W₁g = β
    coef = sp.Matrix([rh * w2a[0], w2a[1] + (x.T * gram_h * w2a)[0]]) / rh
    r = coef - sp.Matrix([0, 1])
    loss = sp.Poly(sp.expand((r.T * gram_d * r)[0]), kappa)
    return sp.expand(sum(c * _sphere_moment(m[0], h) for m, c in zip(loss.monoms(), loss.coeffs())))


def to_s_p(expr: sp.Expr) -> sp.Expr:
    """Rewrite a symmetric polynomial in η₁, η₂ as a polynomial in s = η₁+η₂, p = η₁η₂."""
    from sympy.polys.polyfuncs import symmetrize

    sym, rest, defs = symmetrize(sp.expand(expr), [eta1, eta2], formal=True)
    if rest != 0:
        raise ValueError("expression is not symmetric in (eta_1, eta_2)")
    s1, s2 = defs[0][0], defs[1][0]
    return sp.expand(sym.subs({s1: s, s2: p}))


@functools.lru_cache(maxsize=None)
def surrogate_loss(depth: int, steps: int) -> sp.Expr:
    """The surrogate closed form L_k(s, p, h) (sympy), depth ∈ {2, 3}."""
    if depth == 2:
        return to_s_p(two_layer_loss_eta(steps))
    if depth == 3:
        return to_s_p(three_layer_loss_eta(steps))
    raise ValueError(f"closed forms are derived for depth 2 and 3, got {depth}")


def official_one_step_plot(depth: int) -> sp.Expr:
    """What the official one-step plotting code evaluates: the derived L₁ without its p-linear
    cross term (2p/h⁵ for the 2-layer net, 2p/h³ for the 3-layer net)."""
    if depth == 2:
        return (1 - s / h**2) ** 2 + 1 / h + p**2 / h**7
    if depth == 3:
        return (1 - s / h) ** 2 + 1 / h + p**2 / h**4
    raise ValueError(f"depth must be 2 or 3, got {depth}")


# ----------------------------------------------------------------------------- consequences


def dL_dp(depth: int, steps: int) -> sp.Expr:
    """∂L_k/∂p of the surrogate closed form (sympy)."""
    return sp.diff(surrogate_loss(depth, steps), p)


def curvature_identity_residual(expr: sp.Expr) -> sp.Expr:
    """d²L/dt²|₀ + 2 ∂L/∂p|_{p=s²/4} along η₁,₂ = s/2 ± t (0 when the identity holds)."""
    along = expr.subs(p, (s / 2 + t) * (s / 2 - t))
    lhs = sp.diff(along, t, 2).subs(t, 0)
    rhs = -2 * sp.diff(expr, p).subs(p, s**2 / 4)
    return sp.simplify(sp.expand(lhs - rhs))


def balance_polynomial(depth: int, steps: int, width: float) -> np.ndarray:
    """Coefficients (highest first) of ∂L/∂p at p = s²/4 as a polynomial in s, at width h."""
    expr = sp.expand(dL_dp(depth, steps).subs(p, s**2 / 4).subs(h, sp.nsimplify(width)))
    return np.array([float(c) for c in sp.Poly(expr, s).all_coeffs()])


def balance_window(depth: int, width: float, steps: int = 2) -> tuple[float, float] | None:
    """The budgets s where equal rates are a local minimum on η₁+η₂ = s (∂L/∂p < 0 at p = s²/4).

    Returns (lower, upper) edges of the window, or None if ∂L/∂p ≥ 0 for all s > 0.
    """
    coeffs = balance_polynomial(depth, steps, width)
    roots = np.roots(coeffs)
    real = np.sort([r.real for r in roots if abs(r.imag) < 1e-9 * max(1, abs(r)) and r.real > 0])
    edges = np.concatenate([[0.0], real, [np.inf]])
    windows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        mid = 0.5 * (lo + hi) if np.isfinite(hi) else 2 * lo + 1
        if np.polyval(coeffs, mid) < 0:
            windows.append((float(lo), float(hi)))
    if not windows:
        return None
    return windows[0]


@functools.lru_cache(maxsize=None)
def loss_function(depth: int, steps: int, official: bool = False) -> Callable[..., np.ndarray]:
    """A numpy function L(s, p, h) of the closed form (or of the official plotting form)."""
    expr = official_one_step_plot(depth) if official else surrogate_loss(depth, steps)
    return sp.lambdify((s, p, h), expr, "numpy")


def loss_at_rates(depth: int, steps: int, eta_1, eta_2, width, official: bool = False):
    """The closed form evaluated at layer rates (η₁, η₂), vectorised over numpy arrays."""
    e1, e2 = np.asarray(eta_1, float), np.asarray(eta_2, float)
    return loss_function(depth, steps, official)(e1 + e2, e1 * e2, float(width))


@functools.lru_cache(maxsize=None)
def _three_layer_eta_function(steps: int):
    return sp.lambdify((eta1, eta2, h), three_layer_loss_eta(steps), "numpy")


def surrogate_loss_at_rates(depth: int, steps: int, eta_1, eta_2, width):
    """The surrogate expectation after any number of steps at rates (η₁, η₂), vectorised; the
    2-layer recursion runs in floats, the 3-layer one is the lambdified sympy derivation."""
    e1, e2 = np.asarray(eta_1, float), np.asarray(eta_2, float)
    if depth == 2:
        al, be, ga, de = _two_layer_coefficients(steps, e1, e2, float(width))
        c_u, c_t = al * ga / width, be * de / width
        c_i = (al * de + be * ga) / width - float(width) ** -0.5
        return width * (c_u**2 + c_t**2 + c_i**2) + 2 * c_u * c_t
    if depth == 3:
        return _three_layer_eta_function(steps)(e1, e2, float(width))
    raise ValueError(f"the surrogate is derived for depth 2 and 3, got {depth}")


def latex_forms(depth: int, steps: int) -> str:
    """The closed form L_k(s, p, h) as LaTeX, collected in s and p."""
    return sp.latex(sp.collect(surrogate_loss(depth, steps), [s, p]))


__all__ = [
    "balance_polynomial",
    "balance_window",
    "curvature_identity_residual",
    "dL_dp",
    "eta1",
    "eta2",
    "h",
    "kappa",
    "latex_forms",
    "loss_at_rates",
    "loss_function",
    "official_one_step_plot",
    "p",
    "s",
    "surrogate_loss",
    "surrogate_loss_at_rates",
    "t",
    "three_layer_loss_eta",
    "to_s_p",
    "two_layer_loss_eta",
]
