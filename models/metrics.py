"""Quantities logged along a run: train loss, sharpness, distance to Γ, test loss.

Sharpness is measured on the Gauss–Newton matrix JᵀJ/n, which equals H on Γ (where the theory
reads it) and needs only the Jacobian; the model's closed form of its diagonal is used when it has
one (the diagonal net's 4(m⊙u², m⊙v²)).
"""

from __future__ import annotations

from typing import Callable

from jax import Array

from models.base import SquaredLossProblem
from models.sharpness import diag_power_trace


def standard_metrics(
    problem: SquaredLossProblem,
    test_loss: Callable[[Array], Array] | None = None,
    distance: bool = True,
) -> dict[str, Callable[[Array], Array]]:
    """train_loss, trace_hessian, trace_sqrt_diag_hessian, distance_to_manifold (‖J⁺r‖, needs
    the Jacobian: pass `distance=False` for large problems) and test_loss when given."""
    metrics: dict[str, Callable[[Array], Array]] = {
        "train_loss": problem.loss,
        "trace_hessian": lambda th: diag_power_trace(problem.gauss_newton_diagonal(th), 1.0),
        "trace_sqrt_diag_hessian": lambda th: diag_power_trace(problem.gauss_newton_diagonal(th), 0.5),
    }
    if distance:
        metrics["distance_to_manifold"] = problem.distance_to_manifold
    if test_loss is not None:
        metrics["test_loss"] = test_loss
    return metrics
