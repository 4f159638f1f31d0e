"""Checks of optimizer hyperparameters that name the field and the allowed range.

Only concrete Python numbers are checked: traced values (a vmapped sweep) pass through.
"""

from __future__ import annotations

import numbers


def _concrete(value) -> bool:
    return isinstance(value, numbers.Real)


def check_positive(name: str, value) -> None:
    if _concrete(value) and not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def check_nonnegative(name: str, value) -> None:
    if _concrete(value) and not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def check_unit_interval(name: str, value) -> None:
    """value ∈ [0, 1)."""
    if _concrete(value) and not 0 <= value < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {value}")
