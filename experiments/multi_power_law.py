"""The multi-power law of Luo et al. (ICLR 2025, arXiv 2503.12811) and its fit, in numpy/scipy.

    L(t) = L₀ + A(S₁(t) + S_W)^{−α} − B Σ_{k=1}^{t} (η_{k−1} − η_k) G(η_k^{−γ} S_k(t)),
    G(x) = 1 − (Cx + 1)^{−β},   S_k(t) = Σ_{τ=k}^{t} η_τ,   η₀ = η₁.

Seven parameters (L₀, A, α, B, C, β, γ); S_W = 0 as in the official code (where S₁ includes the
warmup). The fit follows the official recipe in spirit — a Huber loss (δ = 10⁻³) on
log L_obs − log L_pred — but uses scipy's trust-region least squares from several starts
instead of AdamW (docs/theory.md#88-multi-power-law). `fix_gamma` pins γ (γ = 0 is what the quadratic theory
with a Gamma-shaped spectrum gives, docs/theory.md#87-sgd-on-quadratics-under-schedules).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.optimize

PARAM_NAMES = ("L0", "A", "alpha", "B", "C", "beta", "gamma")


@dataclasses.dataclass(frozen=True)
class MultiPowerLaw:
    L0: float
    A: float
    alpha: float
    B: float
    C: float
    beta: float
    gamma: float

    def loss(self, etas: np.ndarray, times: np.ndarray) -> np.ndarray:
        """L(t) for t in `times` (1 ≤ t ≤ T) under the schedule η_1 … η_T."""
        etas = np.asarray(etas, float)
        times = np.asarray(times, int)
        csum = np.concatenate([[0.0], np.cumsum(etas)])  # csum[t] = Σ_{τ≤t} η_τ
        prev = np.concatenate([[etas[0]], etas[:-1]])  # η_{k−1}, with η₀ = η₁
        drops = prev - etas  # η_{k−1} − η_k, k = 1..T
        k = np.arange(len(etas))
        # S_k(t) = csum[t] − csum[k−1] for k ≤ t (0-based k: csum[t] − csum[k]); masked beyond t
        S = csum[times][:, None] - csum[k][None, :]
        mask = k[None, :] < times[:, None]
        x = self.C * etas[None, :] ** (-self.gamma) * np.where(mask, S, 0.0)
        G = 1 - (x + 1) ** (-self.beta)
        decay = np.sum(np.where(mask, drops[None, :] * G, 0.0), axis=1)
        return self.L0 + self.A * csum[times] ** (-self.alpha) - self.B * decay

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def _unpack(z: np.ndarray, fix_gamma: float | None) -> MultiPowerLaw:
    L0, logA, alpha, logB, logC, beta = z[:6]
    gamma = fix_gamma if fix_gamma is not None else z[6]
    return MultiPowerLaw(L0, np.exp(logA), alpha, np.exp(logB), np.exp(logC), beta, gamma)


def fit_multi_power_law(
    curves: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    *,
    fix_gamma: float | None = None,
    huber_delta: float = 1e-3,
    starts: int = 6,
    seed: int = 0,
) -> tuple[MultiPowerLaw, float]:
    """Fit to curves [(etas, times, losses), …]; returns (law, final robust cost)."""
    rng = np.random.default_rng(seed)
    all_losses = np.concatenate([c[2] for c in curves])
    floor = float(np.min(all_losses))
    span = float(np.max(all_losses) - floor)
    peak = max(float(np.max(c[0])) for c in curves)

    def residuals(z):
        law = _unpack(z, fix_gamma)
        res = []
        for etas, times, losses in curves:
            pred = law.loss(etas, times)
            res.append(np.log(losses) - np.log(np.maximum(pred, 1e-12)))
        return np.concatenate(res)

    best = None
    n_free = 6 if fix_gamma is not None else 7
    for i in range(starts):
        z0 = np.array(
            [
                floor * rng.uniform(0.8, 1.0),
                np.log(span * rng.uniform(0.5, 2.0) * peak**0.5),
                rng.uniform(0.2, 0.8),
                np.log(span / peak * rng.uniform(0.5, 5.0)),
                np.log(rng.uniform(0.2, 5.0)),
                rng.uniform(0.3, 0.9),
                rng.uniform(0.0, 0.7),
            ][:n_free]
        )
        lower = [0.0, -30, 0.0, -30, -15, 0.01, -2.0][:n_free]
        upper = [np.inf, 30, 3.0, 30, 15, 5.0, 3.0][:n_free]
        z0 = np.clip(z0, np.array(lower) + 1e-6, np.array(upper) - 1e-6)
        try:
            sol = scipy.optimize.least_squares(
                residuals, z0, bounds=(lower, upper), loss="huber", f_scale=huber_delta, max_nfev=200
            )
        except (ValueError, FloatingPointError):
            continue
        if np.isfinite(sol.cost) and (best is None or sol.cost < best.cost):
            best = sol
    if best is None:
        raise RuntimeError("multi-power-law fit failed from every start")
    return _unpack(best.x, fix_gamma), float(best.cost)
