"""SGD with additive noise on a quadratic, under an arbitrary learning-rate schedule: exact moments.

Setting (docs/theory.md#87-sgd-on-quadratics-under-schedules): L(θ) = L* + ½θᵀHθ with
H = diag(λ_i) (any quadratic, in its eigenbasis) and the SGD step
    θ_t = θ_{t−1} − η_t (Hθ_{t−1} + ξ_t),   Cov ξ_t = diag(σ_i²), independent over t,
for t = 1 … T. With q_{i,t} = (1 − η_tλ_i)² the second moments m_i(t) = E θ_i(t)² obey
    m_i(t) = q_{i,t} m_i(t−1) + η_t² σ_i²,   E L(t) = L* + ½ Σ_i λ_i m_i(t)         (exact).
Noise "∝ H" means σ_i² = c λ_i; "isotropic" means σ_i² = c.

Also here: the Abel-summation form of the same sum, its continuous-time limit, the exact
moments of the first-order SDE (Ornstein–Uhlenbeck) dθ = −η(t)Hθ dt + η(t)Σ^{1/2}dB (time in
steps), Monte-Carlo SGD, LR schedules, and the stationary covariance at constant LR for a
general (non-diagonal) H and Σ via the discrete Lyapunov equation.
"""

from __future__ import annotations

import math
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg
import scipy.stats
from jax import Array

SCHEDULES = ("constant", "cosine", "step", "wsd", "wsd-geometric", "two-stage")
NOISE_SHAPES = ("proportional", "isotropic")


class NoisyQuadratic(eqx.Module):
    """L = L* + ½ Σ λ_i θ_i², gradient noise variances σ_i², initial second moments m_i(0)."""

    eigenvalues: Array
    noise_variances: Array
    init_second_moment: Array
    loss_floor: float = 0.0

    def __check_init__(self):
        d = np.shape(self.eigenvalues)
        if len(d) != 1:
            raise ValueError(f"eigenvalues must be a vector, got shape {d}")
        for name in ("noise_variances", "init_second_moment"):
            if np.shape(getattr(self, name)) != d:
                raise ValueError(f"{name} must have shape {d} like eigenvalues")
        if not np.all(np.asarray(self.eigenvalues) > 0):
            raise ValueError("eigenvalues must be > 0")
        if not np.all(np.asarray(self.noise_variances) >= 0):
            raise ValueError("noise_variances must be >= 0")

    @property
    def dim(self) -> int:
        return int(np.shape(self.eigenvalues)[0])

    def loss_from_moments(self, m: Array) -> Array:
        return self.loss_floor + 0.5 * jnp.sum(self.eigenvalues * m, axis=-1)

    # ------------------------------------------------------------------ exact discrete recursion
    @eqx.filter_jit
    def second_moments(self, etas: Array) -> Array:
        """m_i(t) for t = 0 … T, shape (T+1, d)."""
        lam, sig2 = self.eigenvalues, self.noise_variances

        def body(m, eta):
            m = (1 - eta * lam) ** 2 * m + eta**2 * sig2
            return m, m

        _, ms = jax.lax.scan(body, jnp.asarray(self.init_second_moment, jnp.float64), jnp.asarray(etas, jnp.float64))
        return jnp.concatenate([jnp.asarray(self.init_second_moment, jnp.float64)[None], ms])

    def expected_loss(self, etas: Array) -> Array:
        """E L(t), t = 0 … T, by the exact second-moment recursion."""
        return self.loss_from_moments(self.second_moments(etas))

    @eqx.filter_jit
    def expected_loss_abel(self, etas: Array) -> Array:
        """E L(T) via Σ_k η_k²P_k = w_T − w_1P_0 + Σ_{k<T}(w_k − w_{k+1})P_k, w_k = η_k/(λ(2−η_kλ)).

        Each LR decrease (w_k > w_{k+1}) enters as a positive weight times a decaying kernel P_k.
        """
        etas = jnp.asarray(etas, jnp.float64)
        lam = self.eigenvalues[None, :]
        q = (1 - etas[:, None] * lam) ** 2  # q_{i,t}, t = 1..T
        # P_k = Π_{t=k+1}^T q_t for k = 0..T (P_T = 1)
        logq = jnp.log(q)
        tail = jnp.concatenate([jnp.cumsum(logq[::-1], axis=0)[::-1], jnp.zeros((1, q.shape[1]))])
        P = jnp.exp(tail)  # P[k] = Π_{t>k}
        w = etas[:, None] / (lam * (2 - etas[:, None] * lam))  # w_k, k = 1..T
        noise_sum = w[-1] - w[0] * P[0] + jnp.sum((w[:-1] - w[1:]) * P[1:-1], axis=0)
        m = P[0] * self.init_second_moment + self.noise_variances * noise_sum
        return self.loss_from_moments(m)

    # ------------------------------------------------------------------ continuous time / SDE
    def noise_kernel(self, x: Array) -> Array:
        """G̃(x) = Σ_i σ_i²/4 (1 − e^{−2λ_i x})."""
        x = jnp.asarray(x, jnp.float64)[..., None]
        return jnp.sum(self.noise_variances / 4 * (1 - jnp.exp(-2 * self.eigenvalues * x)), axis=-1)

    @eqx.filter_jit
    def expected_loss_continuous(self, etas: Array) -> Array:
        """E L(T) ≈ L* + ½Σλm(0)e^{−2λS₁} + η₁G̃(S₁) − Σ_{k≥2}(η_{k−1}−η_k)G̃(S_k), S_k = Σ_{τ≥k}η_τ."""
        etas = jnp.asarray(etas, jnp.float64)
        S = jnp.cumsum(etas[::-1])[::-1]  # S_k, k = 1..T
        bias = 0.5 * jnp.sum(self.eigenvalues * self.init_second_moment * jnp.exp(-2 * self.eigenvalues * S[0]))
        decreases = etas[:-1] - etas[1:]
        return self.loss_floor + bias + etas[0] * self.noise_kernel(S[0]) - jnp.sum(decreases * self.noise_kernel(S[1:]))

    @eqx.filter_jit
    def ou_second_moments(self, etas: Array) -> Array:
        """Exact moments of dθ = −η(t)Hθdt + η(t)Σ^{1/2}dB with η constant on each unit step."""
        lam, sig2 = self.eigenvalues, self.noise_variances

        def body(m, eta):
            decay = jnp.exp(-2 * eta * lam)
            m = decay * m + eta**2 * sig2 * (-jnp.expm1(-2 * eta * lam)) / (2 * eta * lam)
            return m, m

        m0 = jnp.asarray(self.init_second_moment, jnp.float64)
        _, ms = jax.lax.scan(body, m0, jnp.asarray(etas, jnp.float64))
        return jnp.concatenate([m0[None], ms])

    def ou_expected_loss(self, etas: Array) -> Array:
        return self.loss_from_moments(self.ou_second_moments(etas))

    # ------------------------------------------------------------------ Monte-Carlo SGD
    def monte_carlo_losses(self, etas: Array, key: Array, runs: int, log_every: int = 1) -> Array:
        """Losses of `runs` independent SGD paths from θ(0) = √m(0), at t = 0, log_every, …, T."""
        return _monte_carlo(self, jnp.asarray(etas, jnp.float64), key, runs, log_every)

    def stationary_second_moment(self, eta: float) -> Array:
        """Fixed point m_i = ησ_i²/(λ_i(2 − ηλ_i)) of the recursion at constant η (needs ηλ < 2)."""
        return eta * self.noise_variances / (self.eigenvalues * (2 - eta * self.eigenvalues))


@partial(jax.jit, static_argnames=("runs", "log_every"))
def _monte_carlo(problem: NoisyQuadratic, etas, key, runs, log_every):
    T = etas.shape[0]
    if T % log_every:
        raise ValueError(f"log_every must divide the number of steps {T}, got {log_every}")
    lam, sd = problem.eigenvalues, jnp.sqrt(problem.noise_variances)
    theta0 = jnp.broadcast_to(jnp.sqrt(problem.init_second_moment), (runs, problem.dim))

    def step(theta, inp):
        t, eta = inp
        xi = sd * jax.random.normal(jax.random.fold_in(key, t), theta.shape, theta.dtype)
        return theta - eta * (lam * theta + xi), None

    def block(theta, i):
        ts = i * log_every + jnp.arange(log_every)
        theta, _ = jax.lax.scan(step, theta, (ts, etas[ts]))
        return theta, problem.loss_from_moments(theta * theta)

    _, logs = jax.lax.scan(block, theta0, jnp.arange(T // log_every))
    first = problem.loss_from_moments(theta0 * theta0)
    return jnp.concatenate([first[None], logs]).T  # (runs, T/log_every + 1)


# ---------------------------------------------------------------------- problems and spectra


def power_law_quadratic(
    dim: int,
    exponent: float = 1.5,
    noise: str = "proportional",
    noise_scale: float = 1.0,
    init_scale: float = 1.0,
    loss_floor: float = 0.0,
) -> NoisyQuadratic:
    """λ_i = i^{−exponent}; σ_i² = noise_scale·λ_i ("proportional", Σ ∝ H) or noise_scale
    ("isotropic"); m_i(0) = init_scale."""
    if noise not in NOISE_SHAPES:
        raise ValueError(f"noise must be one of {NOISE_SHAPES}, got {noise!r}")
    lam = np.arange(1, dim + 1, dtype=np.float64) ** (-exponent)
    sig2 = noise_scale * (lam if noise == "proportional" else np.ones_like(lam))
    return NoisyQuadratic(jnp.asarray(lam), jnp.asarray(sig2), jnp.full(dim, float(init_scale)), float(loss_floor))


def gamma_quadratic(dim: int, shape: float, scale: float, mass: float, init_scale: float = 0.0) -> NoisyQuadratic:
    """A spectrum whose noise measure Σσ_i²δ_{λ_i} approximates mass·Gamma(shape, scale).

    Generalised Gauss–Laguerre quadrature: λ_i = scale·x_i, σ_i² = mass·w_i/Γ(shape), so
    Σσ_i² f(λ_i) ≈ mass·E f(λ) for λ ~ Gamma(shape, scale) (exact for polynomials of degree < 2·dim).
    """
    import scipy.special

    x, w = scipy.special.roots_genlaguerre(dim, shape - 1)
    lam = scale * x
    sig2 = mass * w / math.gamma(shape)
    return NoisyQuadratic(jnp.asarray(lam), jnp.asarray(sig2), jnp.full(dim, float(init_scale)))


def gamma_noise_kernel(x, shape: float, scale: float, mass: float):
    """G̃(x) for a noise measure mass·Gamma(shape, scale): (mass/4)(1 − (1 + 2·scale·x)^{−shape})."""
    return mass / 4 * (1 - (1 + 2 * scale * np.asarray(x, float)) ** (-shape))


# ---------------------------------------------------------------------- schedules


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


# ---------------------------------------------------------------------- stationary state


def stationary_covariance(hessian: np.ndarray, noise_cov: np.ndarray, eta: float) -> np.ndarray:
    """C = (I − ηH)C(I − ηH)ᵀ + η²Σ: the stationary covariance of constant-LR SGD on a quadratic
    (scipy.linalg.solve_discrete_lyapunov). Requires the spectral radius of I − ηH below 1."""
    A = np.eye(hessian.shape[0]) - eta * np.asarray(hessian)
    radius = np.max(np.abs(np.linalg.eigvals(A)))
    if radius >= 1:
        raise ValueError(f"eta={eta} is unstable: spectral radius of I − ηH is {radius:.3g} >= 1")
    return scipy.linalg.solve_discrete_lyapunov(A, eta**2 * np.asarray(noise_cov))


def stationary_loss(hessian: np.ndarray, noise_cov: np.ndarray, eta: float) -> float:
    """E L_∞ − L* = ½ tr(H C)."""
    return 0.5 * float(np.trace(np.asarray(hessian) @ stationary_covariance(hessian, noise_cov, eta)))


def random_quadratic(key_seed: int, dim: int, condition: float = 20.0, noise: str = "isotropic"):
    """A non-diagonal H (random rotation, eigenvalues log-spaced in [1/condition, 1]) and a noise
    covariance Σ: σ²I ("isotropic") or a random SPD matrix not commuting with H ("general")."""
    rng = np.random.default_rng(key_seed)
    Q = scipy.stats.ortho_group.rvs(dim, random_state=rng)
    H = Q @ np.diag(np.geomspace(1 / condition, 1, dim)) @ Q.T
    if noise == "isotropic":
        S = np.eye(dim)
    else:
        B = rng.standard_normal((dim, dim)) / math.sqrt(dim)
        S = B @ B.T + 0.1 * np.eye(dim)
    return H, S


@partial(jax.jit, static_argnames=("runs", "num_steps"))
def simulate_constant_lr(H, noise_sqrt, eta, key, runs: int, num_steps: int):
    """Final θ of `runs` SGD paths θ ← θ − η(Hθ + Σ^{1/2}z) from θ = 0 after num_steps steps."""
    d = H.shape[0]

    def step(theta, t):
        z = jax.random.normal(jax.random.fold_in(key, t), (runs, d), jnp.float64)
        return theta - eta * (theta @ H.T + z @ noise_sqrt.T), None

    theta, _ = jax.lax.scan(step, jnp.zeros((runs, d), jnp.float64), jnp.arange(num_steps))
    return theta
