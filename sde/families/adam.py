"""Adam, RMSprop and AdamE-λ: one second moment per coordinate, S = 1/(v^λ + ε).

Update (`sde.discrete.adaptive`; Kingma & Ba 2015, Tieleman & Hinton 2012, Li–Wen–Lyu 2025 §5):
m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g⊙g, θ ← θ − η m/(v^λ + ε); λ = ½ Adam (β₁ = 0: RMSprop).
𝒱(Σ) = diag Σ, so under label noise v* = c·diag H. Slow flow: the corrected Theorem 5.1 of Li, Wen
& Lyu (docs/theory.md#44-adam-under-label-noise): dζ/dt = −(c/4)∂Φ_S S∇³L[S], dv/dt = c₂(c·diag H − v);
at v = v*, ε = 0 it is −k(c)∂Φ_S S∇R with R = Σ_j H_jj^{1−λ}/(1 − λ) and k(c) = c^{1−λ}/4, i.e.
R = 2 tr Diag(H)^½ for Adam (eq. 18), tr H at λ = 0; on the diagonal net a weighted ℓ_{1−λ}
penalty (ℓ½ for Adam). First-order SDEs: Malladi et al. (NeurIPS 2022), `sde.first_order`.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import optax

from implicit_bias_lab.sde import slow
from implicit_bias_lab.sde.discrete.adaptive import adaptive
from implicit_bias_lab.sde.discrete.validation import check_unit_interval
from implicit_bias_lab.sde.families.base import AbstractOptimizerFamily


class DiagonalAdaptive(AbstractOptimizerFamily):
    """The coordinate-wise AGM with exponent λ = `power` (Adam/RMSprop λ = ½, AdamE-λ)."""

    name: ClassVar[str] = "adame"
    power: float = 0.5

    def __check_init__(self):
        check_unit_interval("power", self.power)

    def transform(self, learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                  bias_correction: bool = False) -> optax.GradientTransformation:
        return adaptive(learning_rate, b1, b2, eps, self.power, bias_correction)

    def second_moment(self, Sigma):
        return jnp.diagonal(Sigma)

    def second_moment_of_gradient(self, g):
        return g * g

    def preconditioner(self, v, eps: float = 0.0):
        return slow.adam_preconditioner(v, eps, self.power)

    def label_noise_fixed_point(self, loss_fn, zeta, c):
        return slow.adam_fixed_point_v(loss_fn, zeta, c)

    def slow_velocity(self, loss_fn, zeta, c, v=None, eps=0.0, rank=None):
        """`sde.slow.adam_label_noise_velocity` (v given) or `adam_quasi_static_velocity` (v = v*)."""
        if v is None:
            return slow.adam_quasi_static_velocity(loss_fn, zeta, c, eps, self.power, rank)
        return slow.adam_label_noise_velocity(loss_fn, zeta, c, self.preconditioner(v, eps), rank)

    def jacobian_slow_velocity(self, residual_fn, zeta, c, v=None, eps=0.0):
        return slow.adam_jacobian_velocity(residual_fn, zeta, v, c, eps, self.power)

    def label_noise_state_velocity(self, loss_fn, zeta, v, c, c2):
        return slow.adam_v_velocity(loss_fn, zeta, v, c, c2)

    def jacobian_state_velocity(self, residual_fn, zeta, v, c, c2):
        return slow.adam_jacobian_v_velocity(residual_fn, zeta, v, c, c2)

    def regularizer_from_diagonal(self, h):
        return jnp.sum(h ** (1.0 - self.power)) / (1.0 - self.power)

    def fixed_point_from_diagonal(self, h):
        return h

    has_vmapped_diagonal_net_flow: ClassVar[bool] = True

    def diagonal_net_flow(self, X, y, theta0, t1, *, noise_scale, c2, eps=0.0, dead_floor=1e-3, compact=False,
                          max_steps_per_segment=1024, **_):
        """The diagonal-net flow with v as a state (`sde.slow_diagonal_state`: log-form segments,
        exact extinction and revival; `compact` the per-instance gathered-column route, which redoes
        a segment that needs more than `max_steps_per_segment` steps as halves). Returns the flow's
        result (θ, v, status, …); vmappable unless compact."""
        from implicit_bias_lab.sde import slow_diagonal_state as sds

        flow = sds.integrate_adam_state_flow_compact if compact else sds.integrate_adam_state_flow
        return flow(X, y, theta0, t1, noise_scale=noise_scale, c2=c2, eps=eps, power=self.power, dead_floor=dead_floor,
                    max_steps_per_segment=max_steps_per_segment)

    def regularizer_coefficient(self, c):
        return 0.25 * c ** (1.0 - self.power)


class Adam(DiagonalAdaptive):
    """Adam: λ = ½; with bias correction on, `optax.adam` update for update."""

    name: ClassVar[str] = "adam"
    power: float = 0.5

    def optax_reference(self, learning_rate, b1=0.9, b2=0.999, eps=1e-8, bias_correction=False):
        return optax.adam(learning_rate, b1, b2, eps) if bias_correction else None

    has_quasi_static_diagonal_net_flow: ClassVar[bool] = True

    def diagonal_net_quasi_static_flow(self, X, y, theta0, *, compact=False):
        """Adam's c₂ → ∞ flow (v = c·diag H at every instant, ε = 0) on the diagonal net, to
        stationarity (`sde.slow_diagonal`: s-form, closed-form first phase, batched extinctions);
        its time scale is θ_j(0)² (phase 1 ends at min(u_i², v_i²))."""
        from implicit_bias_lab.sde import slow_diagonal as sd

        if compact:
            scale = float(jnp.max(theta0 * theta0))
            return sd.integrate_adam_flow_compact(X, y, theta0, 100.0 * scale, dt_max=0.01 * scale)
        scale = jnp.max(theta0 * theta0)
        return sd.integrate_adam_flow_stepped(X, y, theta0, 100.0 * scale, dt_max=0.01 * scale)

    def first_order_sde(self, problem, noise, learning_rate, **hyperparameters):
        from implicit_bias_lab.sde.first_order import AdamSDE

        return AdamSDE(problem, noise, learning_rate, **hyperparameters)


class RMSprop(DiagonalAdaptive):
    """RMSprop: β₁ = 0, λ = ½, ε outside the square root (`optax.rmsprop(eps_in_sqrt=False)`)."""

    name: ClassVar[str] = "rmsprop"
    power: float = 0.5

    def transform(self, learning_rate, decay: float = 0.99, eps: float = 1e-8) -> optax.GradientTransformation:
        check_unit_interval("decay", decay)
        return adaptive(learning_rate, 0.0, decay, eps, 0.5, False)

    def optax_reference(self, learning_rate, decay=0.99, eps=1e-8):
        return optax.rmsprop(learning_rate, decay=decay, eps=eps, eps_in_sqrt=False)

    def time_scale(self, learning_rate, b2=None, decay=None):
        return super().time_scale(learning_rate, b2 if decay is None else decay)

    def first_order_sde(self, problem, noise, learning_rate, **hyperparameters):
        from implicit_bias_lab.sde.first_order import RMSpropSDE

        return RMSpropSDE(problem, noise, learning_rate, **hyperparameters)
