"""SGD with additive noise on a quadratic, under an arbitrary learning-rate schedule: exact moments.

Setting (docs/theory.md#87-sgd-on-quadratics-under-schedules): on a `NoisyQuadratic`
(models/noisy_quadratic.py), L(θ) = L* + ½θᵀHθ with H = diag(λ_i), the SGD step
    θ_t = θ_{t−1} − η_t (Hθ_{t−1} + ξ_t),   Cov ξ_t = diag(σ_i²), independent over t,
for t = 1 … T. With q_{i,t} = (1 − η_tλ_i)² the second moments m_i(t) = E θ_i(t)² obey
    m_i(t) = q_{i,t} m_i(t−1) + η_t² σ_i²,   E L(t) = L* + ½ Σ_i λ_i m_i(t)         (exact).

Also here: the Abel-summation form of the same sum, its continuous-time limit, the exact
moments of the first-order SDE (Ornstein–Uhlenbeck) dθ = −η(t)Hθ dt + η(t)Σ^{1/2}dB (time in
steps), Monte-Carlo SGD, and the fixed point of the recursion at constant η.
"""

from __future__ import annotations

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from implicit_bias_lab.models.noisy_quadratic import NoisyQuadratic

# ---------------------------------------------------------------------- exact discrete recursion


@eqx.filter_jit
def second_moments(problem: NoisyQuadratic, etas: Array) -> Array:
    """m_i(t) for t = 0 … T, shape (T+1, d)."""
    lam, sig2 = problem.eigenvalues, problem.noise_variances

    def body(m, eta):
        m = (1 - eta * lam) ** 2 * m + eta**2 * sig2
        return m, m

    _, ms = jax.lax.scan(body, jnp.asarray(problem.init_second_moment, jnp.float64), jnp.asarray(etas, jnp.float64))
    return jnp.concatenate([jnp.asarray(problem.init_second_moment, jnp.float64)[None], ms])


def expected_loss(problem: NoisyQuadratic, etas: Array) -> Array:
    """E L(t), t = 0 … T, by the exact second-moment recursion."""
    return problem.loss_from_moments(second_moments(problem, etas))


@eqx.filter_jit
def expected_loss_abel(problem: NoisyQuadratic, etas: Array) -> Array:
    """E L(T) via Σ_k η_k²P_k = w_T − w_1P_0 + Σ_{k<T}(w_k − w_{k+1})P_k, w_k = η_k/(λ(2−η_kλ)).

    Each LR decrease (w_k > w_{k+1}) enters as a positive weight times a decaying kernel P_k.
    """
    etas = jnp.asarray(etas, jnp.float64)
    lam = problem.eigenvalues[None, :]
    q = (1 - etas[:, None] * lam) ** 2  # q_{i,t}, t = 1..T
    # P_k = Π_{t=k+1}^T q_t for k = 0..T (P_T = 1)
    logq = jnp.log(q)
    tail = jnp.concatenate([jnp.cumsum(logq[::-1], axis=0)[::-1], jnp.zeros((1, q.shape[1]))])
    P = jnp.exp(tail)  # P[k] = Π_{t>k}
    w = etas[:, None] / (lam * (2 - etas[:, None] * lam))  # w_k, k = 1..T
    noise_sum = w[-1] - w[0] * P[0] + jnp.sum((w[:-1] - w[1:]) * P[1:-1], axis=0)
    m = P[0] * problem.init_second_moment + problem.noise_variances * noise_sum
    return problem.loss_from_moments(m)


def stationary_second_moment(problem: NoisyQuadratic, eta: float) -> Array:
    """Fixed point m_i = ησ_i²/(λ_i(2 − ηλ_i)) of the recursion at constant η (needs ηλ < 2)."""
    return eta * problem.noise_variances / (problem.eigenvalues * (2 - eta * problem.eigenvalues))


# ---------------------------------------------------------------------- continuous time / SDE


@eqx.filter_jit
def expected_loss_continuous(problem: NoisyQuadratic, etas: Array) -> Array:
    """E L(T) ≈ L* + ½Σλm(0)e^{−2λS₁} + η₁G̃(S₁) − Σ_{k≥2}(η_{k−1}−η_k)G̃(S_k), S_k = Σ_{τ≥k}η_τ,
    with G̃ = `NoisyQuadratic.noise_kernel`."""
    etas = jnp.asarray(etas, jnp.float64)
    S = jnp.cumsum(etas[::-1])[::-1]  # S_k, k = 1..T
    bias = 0.5 * jnp.sum(problem.eigenvalues * problem.init_second_moment * jnp.exp(-2 * problem.eigenvalues * S[0]))
    decreases = etas[:-1] - etas[1:]
    return (
        problem.loss_floor
        + bias
        + etas[0] * problem.noise_kernel(S[0])
        - jnp.sum(decreases * problem.noise_kernel(S[1:]))
    )


@eqx.filter_jit
def ou_second_moments(problem: NoisyQuadratic, etas: Array) -> Array:
    """Exact moments of dθ = −η(t)Hθdt + η(t)Σ^{1/2}dB with η constant on each unit step."""
    lam, sig2 = problem.eigenvalues, problem.noise_variances

    def body(m, eta):
        decay = jnp.exp(-2 * eta * lam)
        m = decay * m + eta**2 * sig2 * (-jnp.expm1(-2 * eta * lam)) / (2 * eta * lam)
        return m, m

    m0 = jnp.asarray(problem.init_second_moment, jnp.float64)
    _, ms = jax.lax.scan(body, m0, jnp.asarray(etas, jnp.float64))
    return jnp.concatenate([m0[None], ms])


def ou_expected_loss(problem: NoisyQuadratic, etas: Array) -> Array:
    """E L(t), t = 0 … T, of the Ornstein–Uhlenbeck process (`ou_second_moments`)."""
    return problem.loss_from_moments(ou_second_moments(problem, etas))


# ---------------------------------------------------------------------- Monte-Carlo SGD


def monte_carlo_losses(problem: NoisyQuadratic, etas: Array, key: Array, runs: int, log_every: int = 1) -> Array:
    """Losses of `runs` independent SGD paths from θ(0) = √m(0), at t = 0, log_every, …, T."""
    return _monte_carlo(problem, jnp.asarray(etas, jnp.float64), key, runs, log_every)


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


__all__ = [
    "expected_loss",
    "expected_loss_abel",
    "expected_loss_continuous",
    "monte_carlo_losses",
    "ou_expected_loss",
    "ou_second_moments",
    "second_moments",
    "stationary_second_moment",
]
