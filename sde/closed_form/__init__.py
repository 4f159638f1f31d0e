"""Exact dynamics of GD and SGD on problems small enough to solve: noisy quadratics and linear nets.

The problems are in `models` (`models.noisy_quadratic`, `models.linear_nets`); here is how the
optimizers move on them (docs/theory.md#8-linear-nets-and-quadratics):

* `quadratic_sgd`: SGD on a noisy quadratic under any learning-rate schedule: exact second-moment
  recursion, its Abel-summation form and continuous limit, the Ornstein–Uhlenbeck moments, Monte Carlo.
* `lr_schedules`: the schedules (constant, cosine, step, WSD, two-stage).
* `quadratic_stationary`: the Lyapunov stationary covariance of constant-LR SGD for any H and Σ.
* `linear_net_gd`: GD with one learning rate per layer on a deep linear net, and budget-line sweeps.
* `linear_net_surrogate`: sympy closed forms of the loss after k surrogate GD steps, the balance
  window and curvature identity. It imports sympy, so it is not re-exported here: import it as
  `implicit_bias_lab.sde.closed_form.linear_net_surrogate`.
"""

from implicit_bias_lab.sde.closed_form.linear_net_gd import (
    gd_step,
    gd_test_losses,
    layer_rates,
    official_budget_line,
    seeds_test_losses,
    sweep_test_losses,
    uniform_budget_line,
)
from implicit_bias_lab.sde.closed_form.lr_schedules import SCHEDULES, lr_schedule
from implicit_bias_lab.sde.closed_form.quadratic_sgd import (
    expected_loss,
    expected_loss_abel,
    expected_loss_continuous,
    monte_carlo_losses,
    ou_expected_loss,
    ou_second_moments,
    second_moments,
    stationary_second_moment,
)
from implicit_bias_lab.sde.closed_form.quadratic_stationary import (
    simulate_constant_lr,
    stationary_covariance,
    stationary_loss,
)

__all__ = [
    "SCHEDULES",
    "expected_loss",
    "expected_loss_abel",
    "expected_loss_continuous",
    "gd_step",
    "gd_test_losses",
    "layer_rates",
    "lr_schedule",
    "monte_carlo_losses",
    "official_budget_line",
    "ou_expected_loss",
    "ou_second_moments",
    "second_moments",
    "seeds_test_losses",
    "simulate_constant_lr",
    "stationary_covariance",
    "stationary_loss",
    "stationary_second_moment",
    "sweep_test_losses",
    "uniform_budget_line",
]
