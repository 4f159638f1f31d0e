"""Learning-rate schedules η_1 … η_T: constant, cosine, step, WSD (linear or geometric decay), two-stage.

The schedules of docs/theory.md#87-sgd-on-quadratics-under-schedules, fed to the exact moment
recursions of `sde.closed_form.quadratic_sgd` and to the multi-power-law fits of `ibl run schedules`.
"""

from __future__ import annotations

import numpy as np

SCHEDULES = ("constant", "cosine", "step", "wsd", "wsd-geometric", "two-stage")


def lr_schedule(
    name: str,
    num_steps: int,
    peak: float,
    *,
    final_fraction: float = 0.0,
    decay_fraction: float = 0.2,
    step_points: tuple[float, ...] = (0.5, 0.75),
    step_factor: float = 0.1,
    warmup: int = 0,
) -> np.ndarray:
    """η_1 … η_T. constant; cosine from peak to final_fraction·peak; step (× step_factor at each
    fraction in step_points); wsd (stable, then linear decay to final_fraction·peak over the last
    decay_fraction of the run); wsd-geometric (same, geometric decay, floor 1e-3·peak); two-stage
    (peak, then step_factor·peak for the last decay_fraction). Optional linear warmup."""
    if name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")
    T = int(num_steps)
    u = (np.arange(1, T + 1) - 0.5) / T  # mid-step fraction of the run
    lo = final_fraction * peak
    if name == "constant":
        eta = np.full(T, peak)
    elif name == "cosine":
        eta = lo + (peak - lo) * 0.5 * (1 + np.cos(np.pi * u))
    elif name == "step":
        eta = peak * step_factor ** np.sum(u[:, None] >= np.asarray(step_points)[None, :], axis=1)
    elif name in ("wsd", "wsd-geometric"):
        start = 1 - decay_fraction
        frac = np.clip((u - start) / decay_fraction, 0, 1)
        if name == "wsd":
            eta = peak - (peak - lo) * frac
        else:
            end = max(lo, 1e-3 * peak)
            eta = peak * (end / peak) ** frac
    else:  # two-stage
        eta = np.where(u < 1 - decay_fraction, peak, step_factor * peak)
    if warmup:
        eta[:warmup] = eta[:warmup] * np.arange(1, warmup + 1) / warmup
    return eta.astype(np.float64)


__all__ = ["SCHEDULES", "lr_schedule"]
