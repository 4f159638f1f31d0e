"""Float64 on request: the lab never switches JAX's global dtype as an import side effect.

JAX computes in float32 unless ``jax_enable_x64`` is set; the slow flows, the projections onto Γ
and the Hessian traces of the theory need float64 (docs/theory.md#1-conventions). Following the
JAX ecosystem's convention, the caller turns it on (`enable_x64`, at start-up) and the functions
that need it check (`require_x64`) and say how to turn it on.
"""

from __future__ import annotations

import jax


def enable_x64() -> None:
    """Turn on JAX's float64 mode for this process (what the ``ibl`` CLI and experiments do)."""
    jax.config.update("jax_enable_x64", True)


def x64_enabled() -> bool:
    return bool(jax.config.read("jax_enable_x64"))


def require_x64(what: str) -> None:
    """Raise a one-line error naming `what` when JAX's float64 mode is off."""
    if not x64_enabled():
        raise RuntimeError(
            f"{what} computes in float64, but JAX's float64 mode is off: call "
            "implicit_bias_lab.enable_x64() (or jax.config.update('jax_enable_x64', True)) at start-up"
        )
