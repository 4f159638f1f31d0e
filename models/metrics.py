"""Quantities logged along a run: train loss, sharpness, distance to Γ, test loss.

Sharpness is measured on the Gauss–Newton matrix JᵀJ/n, which equals H on Γ (where the theory
reads it) and needs only the Jacobian; the model's closed form of its diagonal is used when it has
one (the diagonal net's 4(m⊙u², m⊙v²)).
"""

from __future__ import annotations

from typing import Callable

from jax import Array

from implicit_bias_lab.models.base import SquaredLossProblem
from implicit_bias_lab.models.sharpness import diag_power_trace


Metric = Callable[[SquaredLossProblem, Array], Array]


def standard_metrics(
    test_loss: Callable[[Array], Array] | None = None, distance: bool = True
) -> dict[str, Metric]:
    """Metrics `fn(problem, theta)`: train_loss, trace_hessian, trace_sqrt_diag_hessian,
    distance_to_manifold (‖J⁺r‖; it needs the Jacobian, so pass `distance=False` for large
    problems) and, when given, test_loss (a function of θ alone)."""
    metrics: dict[str, Metric] = {
        "train_loss": lambda p, th: p.loss(th),
        "trace_hessian": lambda p, th: diag_power_trace(p.gauss_newton_diagonal(th), 1.0),
        "trace_sqrt_diag_hessian": lambda p, th: diag_power_trace(p.gauss_newton_diagonal(th), 0.5),
    }
    if distance:
        metrics["distance_to_manifold"] = lambda p, th: p.distance_to_manifold(th)
    if test_loss is not None:
        metrics["test_loss"] = lambda p, th: test_loss(th)
    return metrics
