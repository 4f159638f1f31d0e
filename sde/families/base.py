"""The interface every optimizer family implements (docs/guide.md#optimizer-families).

A family is one member of the adaptive-gradient-method class of Li, Wen & Lyu (NeurIPS 2025, §4 and
Table 1; docs/theory.md#41-agm-class-and-scaling):

    m ← β₁m + (1 − β₁)g,   v ← β₂v + (1 − β₂)𝒱(ggᵀ),   θ ← θ − η S(v) m,   1 − β₂ = c₂η²,

with SGD the member without v (S = I). What differs between families is 𝒱 (`second_moment`: the
map from a gradient covariance to the state v) and S (`preconditioner`); everything the lab derives
from a family follows from those two and the label-noise slow flow of the corrected Theorem 5.1
(docs/theory.md#43-corrected-adaptive-slow-sde):

    dζ/dt = −(c/4) ∂Φ_S S ∇³L[S],   dv/dt = c₂(𝒱(Σ(ζ)) − v),   Σ = cH on Γ,   t = η²k,

∂Φ_S = I − SN(NᵀSN)⁺Nᵀ (N spanning range H), ∇³L[S] = ∇_θ⟨S, H(θ)⟩ with S frozen. The base class
implements that flow for any S (a vector for a diagonal S, a D×D matrix otherwise); families with
closed forms override it. Where the flow is a preconditioned gradient of a regularizer R,
dζ/dt = −k(c) ∂Φ_S S ∇R, the family says so through `regularizer_from_diagonal` and
`regularizer_coefficient`; Shampoo has none (docs/theory.md#shampoo-has-no-potential).

Families are immutable `eqx.Module`s: their fields are the structural choices (the exponent λ, the
blocks, the matrix shapes), hyperparameters such as η, β's and ε go to `transform`.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jax import Array

from implicit_bias_lab.sde import manifold as mf
from implicit_bias_lab.sde import slow

LossFn = Callable[[Array], Array]


class TimeScale(NamedTuple):
    """The family's clocks: slow time per step (η²: t = η²k under label noise, Li–Wang–Arora 2022,
    Li–Wen–Lyu 2025) and the rate c₂ = (1 − β₂)/η² of its state v (None without a state)."""

    slow_time_per_step: float
    state_rate: float | None


class DiagonalNetFlowEnd(NamedTuple):
    """End of a general diagonal-net slow flow: θ(t1) and its `RunStatus` code."""

    theta: Array
    status: int


class AbstractOptimizerFamily(eqx.Module):
    """One optimizer family: its discrete update, its state's fixed point, its slow flow and the
    closed forms it has. Subclasses are final; see the module docstring for the math."""

    #: registry name, e.g. "adam"
    name: ClassVar[str]
    #: the family keeps a second moment v (False for SGD: S = I)
    has_state: ClassVar[bool] = True

    @classmethod
    def for_model(cls, model) -> AbstractOptimizerFamily:
        """The family with the structure it takes on `model` (blocks, matrix shapes); families
        without structure ignore the model."""
        return cls()

    # ------------------------------------------------------------------ discrete
    @abc.abstractmethod
    def transform(self, learning_rate: float, **hyperparameters) -> optax.GradientTransformation:
        """The discrete update as an optax `GradientTransformation` (pure init/update)."""

    def optax_reference(self, learning_rate: float, **hyperparameters) -> optax.GradientTransformation | None:
        """optax's own implementation of the same update where optax has one (for the conformance
        test), else None."""
        return None

    def with_second_moment(self, state: Any, v: Any) -> Any:
        """`state` of `transform` with its second moment replaced by v (e.g. its fixed point)."""
        return state._replace(v=v)

    # ------------------------------------------------------------------ the state v
    def second_moment(self, Sigma: Array) -> Any:
        """𝒱(Σ): the state v that the update accumulates from gradients of covariance Σ (D×D);
        linear in Σ, so E[𝒱(ggᵀ)] = 𝒱(E[ggᵀ])."""
        raise NotImplementedError(f"{self.name} has no second moment")

    def second_moment_of_gradient(self, g: Array) -> Any:
        """𝒱(ggᵀ) for one gradient g (what one step adds, up to 1 − β₂)."""
        return self.second_moment(jnp.outer(g, g))

    def preconditioner(self, v: Any, eps: float = 0.0) -> Array:
        """S(v): a D-vector when S is diagonal, else a D×D symmetric positive definite matrix."""
        raise NotImplementedError(f"{self.name} has no preconditioner")

    def fixed_point(self, Sigma: Array) -> Any:
        """v* with E[v_{k+1} | v_k = v*] = v*: 𝒱(Σ) (Σ the gradient-noise covariance at ζ)."""
        return self.second_moment(Sigma)

    def state_velocity(self, v: Any, Sigma: Array, c2: float) -> Any:
        """dv/dt = c₂(𝒱(Σ) − v) in slow time (c₂ = (1 − β₂)/η²)."""
        return jax.tree_util.tree_map(lambda a, b: c2 * (a - b), self.fixed_point(Sigma), v)

    def time_scale(self, learning_rate: float, b2: float | None = None) -> TimeScale:
        if not learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
        rate = None
        if self.has_state:
            if b2 is None or not 0 <= b2 < 1:
                raise ValueError(f"b2 must lie in [0, 1) for {self.name}, got {b2}")
            rate = (1.0 - b2) / learning_rate**2
        return TimeScale(learning_rate**2, rate)

    # ------------------------------------------------------------------ label-noise slow flow
    def label_noise_fixed_point(self, loss_fn: LossFn, zeta: Array, c: float) -> Any:
        """v* = 𝒱(cH(ζ)) on Γ under label noise."""
        return self.fixed_point(c * mf.hessian(loss_fn, zeta))

    def label_noise_state_velocity(self, loss_fn: LossFn, zeta: Array, v: Any, c: float, c2: float) -> Any:
        """dv/dt = c₂(𝒱(cH(ζ)) − v) (the state's label-noise slow equation)."""
        return self.state_velocity(v, c * mf.hessian(loss_fn, zeta), c2)

    def jacobian_state_velocity(self, residual_fn: Callable[[Array], Array], zeta: Array, v: Any, c: float, c2: float) -> Any:
        """dv/dt = c₂(𝒱(c·JᵀJ/n) − v), the Gauss–Newton form of `label_noise_state_velocity`."""
        J = jax.jacrev(residual_fn)(zeta)
        return self.state_velocity(v, c * (J.T @ J) / J.shape[0], c2)

    def slow_velocity(self, loss_fn: LossFn, zeta: Array, c: float, v: Any = None, eps: float = 0.0,
                      rank: int | None = None) -> Array:
        """dζ/dt = −(c/4) ∂Φ_S S ∇³L[S] at ζ ∈ Γ, S = S(v) (v = its fixed point when None)."""
        H = mf.hessian(loss_fn, zeta)
        if v is None:
            v = self.fixed_point(c * H) if self.has_state else None
        S = self.preconditioner(v, eps)
        if jnp.ndim(S) == 1:
            return slow.adam_label_noise_velocity(loss_fn, zeta, c, S, rank, H=H)
        dPhi_S = mf.oblique_projector(mf.normal_basis(H, rank=rank), S)
        return -0.25 * c * (dPhi_S @ (S @ mf.third_derivative_contraction(loss_fn, zeta, S)))

    def jacobian_fixed_point(self, residual_fn: Callable[[Array], Array], zeta: Array, c: float) -> Any:
        """v* = 𝒱(c·JᵀJ/n): the Gauss–Newton Hessian (= H on Γ) of L = ½·mean(r²)."""
        J = jax.jacrev(residual_fn)(zeta)
        return self.fixed_point(c * (J.T @ J) / J.shape[0])

    def jacobian_slow_velocity(self, residual_fn: Callable[[Array], Array], zeta: Array, c: float, v: Any = None,
                               eps: float = 0.0) -> Array:
        """`slow_velocity` for L = ½·mean(r²) from J = ∂r/∂θ: ∂Φ_S S u = Su − SJᵀ(JSJᵀ)⁺JSu and
        ∇³L[S] = ∇_θ⟨S, JᵀJ/n⟩ (S frozen), equal on Γ up to a vector in range Jᵀ that the
        projection removes (docs/theory.md#3-label-noise)."""
        jac = jax.jacrev(residual_fn)
        J = jac(zeta)
        n = J.shape[0]
        if v is None:
            v = self.fixed_point(c * (J.T @ J) / n) if self.has_state else None
        S = jax.lax.stop_gradient(self.preconditioner(v, eps))
        if jnp.ndim(S) == 1:
            return slow.diagonal_jacobian_velocity(jac, J, zeta, c, S)
        u = S @ jax.grad(lambda th: jnp.sum((jac(th) @ S) * jac(th)) / n)(zeta)
        JS = J @ S
        return -0.25 * c * (u - JS.T @ mf.gram_pinv_solve(JS @ J.T, J @ u))

    # ------------------------------------------------------------------ regularizer and closed forms
    def regularizer_from_diagonal(self, h: Array) -> Array | None:
        """R as a function of h = diag H on Γ when the family's label-noise flow is
        dζ/dt = −k(c) ∂Φ_S S ∇R (ε = 0) with R depending on diag H only; None otherwise."""
        return None

    def regularizer_coefficient(self, c: float) -> float | None:
        """k(c) in dζ/dt = −k(c) ∂Φ_S S ∇R; None when there is no regularizer."""
        return None

    def regularizer(self, loss_fn: LossFn, zeta: Array) -> Array | None:
        """R(ζ) from the Hessian's diagonal (see `regularizer_from_diagonal`)."""
        h = jnp.diagonal(mf.hessian(loss_fn, zeta))
        return self.regularizer_from_diagonal(jnp.clip(h, 0.0))

    def diagonal_net_penalty(self, w: Array, m: Array) -> Array | None:
        """The regularizer's minimum over the fibre {u⊙u − v⊙v = w} of the diagonal net on Γ, with
        m_i = mean_k x_ki²: there diag H = 4(m⊙u², m⊙v²), R increases in every u_i², v_i², so the
        minimum is at the balanced point u_i v_i = 0 (docs/theory.md, diagonal-net regularizers).
        SGD: 4Σm_i|w_i| (weighted ℓ1); Adam: 4Σ√(m_i|w_i|) (weighted ℓ½)."""
        w, m = jnp.asarray(w), jnp.asarray(m)
        h = 4 * jnp.concatenate([m * jnp.maximum(w, 0.0), m * jnp.maximum(-w, 0.0)])
        return self.regularizer_from_diagonal(h)

    def fixed_point_from_diagonal(self, h: Array) -> Any:
        """𝒱(Diag h): the fixed point when the gradient covariance is diagonal (or only its diagonal
        matters to 𝒱); the form a diagonal-net experiment uses at d = 10⁴, where Σ is never formed."""
        raise NotImplementedError(f"{self.name}'s second moment needs the whole covariance")

    # ------------------------------------------------------------------ diagonal-net slow flows
    #: the family has a vmappable closed-form flow on the diagonal net (`diagonal_net_flow(compact=False)`)
    has_vmapped_diagonal_net_flow: ClassVar[bool] = False
    #: the family has the quasi-static (c₂ → ∞) s-form flow on the diagonal net
    has_quasi_static_diagonal_net_flow: ClassVar[bool] = False

    def diagonal_net_flow(self, X: Array, y: Array, theta0: Array, t1: float, *, noise_scale: float,
                          c2: float | None = None, eps: float = 0.0, compact: bool = True, max_steps: int = 20_000,
                          extinction_floor: float = 1e-8, num_saves: int = 31, **_) -> DiagonalNetFlowEnd:
        """(θ(t1), status) of the label-noise slow flow on the diagonal net w = u⊙u − v⊙v from θ0 ∈ Γ,
        for ONE instance (X, y; all-zero rows, a sweep's padding, are dropped). This default is the
        general flow (`sde.slow.integrate_slow_flow` on the Jacobian route, v as a state when the
        family has one and c2 is given, extinction events below `extinction_floor`·max|θ|); families
        with closed forms (SGD, Adam/AdamE) override it with the diagonal-net routes of
        `sde.slow_diagonal`. status: `RunStatus.MAX_TIME` (reached t1) or `RunStatus.STIFF` (the
        solver ran out of steps) or `RunStatus.FAILED`; θ is then where the flow was last good (the
        end of the last completed save interval)."""
        from implicit_bias_lab.models import DiagonalNet, SquaredLossProblem
        from implicit_bias_lab.sde.slow import integrate_slow_flow

        if not compact:
            raise NotImplementedError(f"{self.name} has no vmappable diagonal-net flow; use compact=True")
        X, y, theta0 = jnp.asarray(X), jnp.asarray(y), jnp.asarray(theta0)
        rows = jnp.any(X != 0, axis=1)
        X, y = X[rows], y[rows]
        problem = SquaredLossProblem(DiagonalNet(X.shape[1]), X, y)
        sol = integrate_slow_flow(problem.loss, theta0, t1, noise_scale=noise_scale, optimizer=self,
                                  c2=c2 if self.has_state else None, eps=eps, num_saves=num_saves, max_steps=max_steps,
                                  residual_fn=problem.residuals, extinction_floor=extinction_floor, throw=False)
        return DiagonalNetFlowEnd(sol.path[-1], int(sol.status))

    # ------------------------------------------------------------------ first-order SDE
    def first_order_sde(self, problem, noise, learning_rate: float, **hyperparameters):
        """The family's first-order SDE (`sde.first_order`), where the literature has one."""
        raise NotImplementedError(f"no first-order SDE is known to the lab for {self.name}")


def check_vector_state(v: Array, D: int, name: str = "v") -> None:
    if jnp.shape(v) != (D,):
        raise ValueError(f"{name} must have shape ({D},), got {jnp.shape(v)}")
