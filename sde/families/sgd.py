"""SGD (and GD, with the noise off): the family without a second moment, S = I.

Update m ← μm + g, θ ← θ − ηm (`sde.discrete.sgd`, = `optax.sgd`). Label-noise slow flow
(Li, Wang & Arora, ICLR 2022; docs/theory.md#3-label-noise): dζ/dt = −(c/4) P_∥ ∇tr H, t = η²k,
the flow of the regularizer R = tr H with k(c) = c/4; on the diagonal net R = 4Σ m_i|w_i| on the
fibre's balanced point (weighted ℓ1). First-order SDE: Li, Tai & E (2017), `sde.first_order.SGDSDE`.
"""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import optax

from implicit_bias_lab.sde import slow
from implicit_bias_lab.sde.discrete.sgd import sgd
from implicit_bias_lab.sde.families.base import AbstractOptimizerFamily


class SGD(AbstractOptimizerFamily):
    """SGD with heavy-ball momentum μ (the slow flow is that of μ = 0 up to the time change
    η → η/(1 − μ), not modelled here)."""

    name: ClassVar[str] = "sgd"
    has_state: ClassVar[bool] = False

    def transform(self, learning_rate, momentum: float = 0.0, nesterov: bool = False) -> optax.GradientTransformation:
        return sgd(learning_rate, momentum, nesterov)

    def optax_reference(self, learning_rate, momentum: float = 0.0, nesterov: bool = False):
        return optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov)

    def with_second_moment(self, state, v):
        return state

    def preconditioner(self, v=None, eps: float = 0.0):
        raise NotImplementedError("SGD has no preconditioner: S = I")

    def fixed_point(self, Sigma):
        return None

    def state_velocity(self, v, Sigma, c2):
        return None

    def slow_velocity(self, loss_fn, zeta, c, v=None, eps=0.0, rank=None):
        """−(c/4)P_∥∇tr H (`sde.slow.sgd_label_noise_velocity`)."""
        return slow.sgd_label_noise_velocity(loss_fn, zeta, c, rank)

    def jacobian_slow_velocity(self, residual_fn, zeta, c, v=None, eps=0.0):
        return slow.sgd_jacobian_velocity(residual_fn, zeta, c)

    def regularizer_from_diagonal(self, h):
        return jnp.sum(h)

    def regularizer_coefficient(self, c):
        return 0.25 * c

    has_vmapped_diagonal_net_flow: ClassVar[bool] = True

    def diagonal_net_flow(self, X, y, theta0, t1, *, noise_scale, num_steps=100, compact=False, **_):
        """The closed-form diagonal-net flow −(c/4)P_∥∇tr H (`sde.slow_diagonal`: RK4 with n×n Gram
        solves; `compact` the per-instance route without padding rows). Returns the flow's result
        (θ, status, …); vmappable unless compact."""
        from implicit_bias_lab.sde import slow_diagonal as sd

        flow = sd.integrate_sgd_flow_compact if compact else sd.integrate_sgd_flow_stepped
        return flow(X, y, theta0, t1, noise_scale=noise_scale, num_steps=num_steps)

    def first_order_sde(self, problem, noise, learning_rate, **hyperparameters):
        from implicit_bias_lab.sde.first_order import SGDSDE

        return SGDSDE(problem, noise, learning_rate, **hyperparameters)
