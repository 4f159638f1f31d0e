"""First-order (conventional) SDE approximations of SGD, RMSprop and Adam, for any problem and noise.

Conventions (docs/theory.md#1-conventions): a noisy step uses g = ∇L(θ) + ξ with Cov ξ = Σ(θ),
Σ = `noise.covariance(problem, θ)` the *per-step* gradient-noise covariance of the lab ("Σ_lab").
All SDEs here are Itô; integrate them with Euler–Maruyama (`sde.integrate`).

SGD (Li, Tai, E, ICML 2017 / JMLR 2019), time t = ηk:

    dθ = −(∇L(θ) dt + √η Σ(θ)^{1/2} dW).

The sign in front of the noise is immaterial in law (−W is a Brownian motion); it is chosen so
that Euler–Maruyama with dt = η, fed the increments √dt·z_k, is *exactly* discrete SGD whose
noise is ξ_k = Σ^{1/2} z_k. Σ^{1/2}dW is read as B dW for the factor B(θ), B Bᵀ = Σ(θ), that the
noise model applies itself (`noise.apply_factor`, m = `noise.factor_dimension` columns; see
`sde.noise`): for `IsotropicNoise` and Gaussian full-batch `LabelNoise` z_k is the very draw the
discrete engine makes from `fold_in(key, k)`, and `AntitheticNoise` applies −B on the same z_k.

RMSprop and Adam (Malladi, Lyu, Panigrahi, Arora, NeurIPS 2022; docs/theory.md#5-first-order-sdes), time t = η²k. Malladi et al. write g = ∇L + σz with Cov z = Σ_M and
σ a noise scale. **Mapping to a lab noise model:** σ is the field `noise_scale` and

    Σ_lab = σ² Σ_M,   σ₀ = ση,   ε₀ = εη,   c_i = (1 − β_i)/η²,   u = v/σ²,

so σ₀ Σ_M^{1/2} = η Σ_lab^{1/2}, diag Σ_M = diag Σ_lab/σ² and σ₀√u = η√v. The θ-path does not
depend on σ (only u is rescaled); take σ = the `IsotropicNoise` σ (then Σ_M = I), or σ = σ₀/η in
Malladi's scaling. With P = σ₀ diag(u)^{1/2} + ε₀ I,

    RMSprop:  dθ = −P⁻¹(∇L dt + σ₀ Σ_M^{1/2} dW),     du = c₂(diag Σ_M − u) dt;
    Adam:     dθ = −(√γ₂/γ₁) P⁻¹ m dt,                dm = c₁(∇L − m) dt + σ₀ c₁ Σ_M^{1/2} dW,
              du = c₂(diag Σ_M − u) dt,   P = σ₀ diag(u)^{1/2} + ε₀ √γ₂ I,   γ_i = 1 − e^{−c_i t}

(γ_i ≡ 1 with `bias_correction=False`). The discrete rules they approximate are
`sde.discrete.rmsprop(η, β, ε)` and `sde.discrete.adam(η, β₁, β₂, ε, bias_correction)`, whose
state starts at m = v = 0 (then u(0) = 0). With bias correction the Adam coefficient √γ₂/γ₁
behaves like √c₂/(c₁√t) at t → 0 (integrable); at t = 0 exactly (γ₁ = 0, m = 0) the θ-drift is
taken as 0.

Every SDE is an `eqx.Module` with `init_state`, `drift(t, state)`, `diffusion(t, state, dW)`
(the diffusion matrix applied to a Brownian increment dW ∈ R^{noise_dimension}, returned as a
state-shaped pytree), `time_per_step` (dt that corresponds to one optimizer step) and
`parameters(state)` (θ).
"""

from __future__ import annotations

import abc
from typing import Any, NamedTuple

import equinox as eqx
import jax.numpy as jnp
from jax import Array

from implicit_bias_lab.models.base import AbstractProblem
from implicit_bias_lab.sde.discrete.validation import check_nonnegative, check_positive, check_unit_interval
from implicit_bias_lab.sde.noise import AbstractNoise


# ----------------------------------------------------------------------------- validation
def _check_vector(problem: AbstractProblem, value, name: str) -> None:
    shape = jnp.shape(value)
    if shape != (problem.num_params,):
        raise ValueError(f"{name} must have shape ({problem.num_params},) for this problem, got {shape}")


# ----------------------------------------------------------------------------- noise factors
def noise_factor(noise: AbstractNoise, problem: AbstractProblem, theta: Array) -> Array:
    """The matrix B(θ) (D × m) with B Bᵀ = Σ(θ) that the SDEs apply to dW: `noise.factor`."""
    return noise.factor(problem, theta)


def noise_covariance_diagonal(noise: AbstractNoise, problem: AbstractProblem, theta: Array) -> Array:
    """diag Σ(θ), in closed form where the noise model allows: `noise.covariance_diagonal`."""
    return noise.covariance_diagonal(problem, theta)


# ----------------------------------------------------------------------------- states
class SGDSDEState(NamedTuple):
    theta: Array


class RMSpropSDEState(NamedTuple):
    theta: Array
    u: Array  # v/σ²


class AdamSDEState(NamedTuple):
    theta: Array
    m: Array
    u: Array  # v/σ²


# ----------------------------------------------------------------------------- SDEs
class AbstractFirstOrderSDE(eqx.Module):
    """An Itô SDE dX = b(t, X) dt + G(t, X) dW approximating a discrete optimizer.

    `drift(t, X)` = b, `diffusion(t, X, dW)` = G dW (same pytree as X), dW ∈ R^{noise_dimension}.
    """

    problem: eqx.AbstractVar[AbstractProblem]
    noise: eqx.AbstractVar[AbstractNoise]
    learning_rate: eqx.AbstractVar[float]

    @property
    @abc.abstractmethod
    def time_per_step(self) -> float:
        """dt of one optimizer step (η for SGD, η² for RMSprop/Adam)."""

    @abc.abstractmethod
    def init_state(self, theta0: Array, **kwargs) -> Any: ...

    @abc.abstractmethod
    def drift(self, t, state) -> Any: ...

    @abc.abstractmethod
    def diffusion(self, t, state, dW: Array) -> Any: ...

    @property
    def noise_dimension(self) -> int:
        return self.noise.factor_dimension(self.problem)

    def parameters(self, state) -> Array:
        return state.theta

    def _check_common(self):
        if not isinstance(self.problem, AbstractProblem):
            raise TypeError(f"problem must be an AbstractProblem, got {type(self.problem).__name__}")
        if not isinstance(self.noise, AbstractNoise):
            raise TypeError(f"noise must be an AbstractNoise, got {type(self.noise).__name__}")
        check_positive("learning_rate", self.learning_rate)
        self.noise.validate(self.problem)


class SGDSDE(AbstractFirstOrderSDE):
    """dθ = −(∇L dt + √η Σ^{1/2} dW), t = ηk (Li, Tai, E 2017/2019)."""

    problem: AbstractProblem
    noise: AbstractNoise
    learning_rate: float

    def __check_init__(self):
        self._check_common()

    @property
    def time_per_step(self):
        return self.learning_rate

    def init_state(self, theta0):
        _check_vector(self.problem, theta0, "theta0")
        return SGDSDEState(jnp.asarray(theta0))

    def drift(self, t, state):
        return SGDSDEState(-self.problem.grad(state.theta))

    def diffusion(self, t, state, dW):
        scale = jnp.sqrt(jnp.asarray(self.learning_rate, jnp.result_type(state.theta)))
        return SGDSDEState(-scale * self.noise.apply_factor(self.problem, state.theta, dW))


class _AdaptiveSDE(AbstractFirstOrderSDE):
    """Shared scalings of Malladi et al.: σ₀ = ση, ε₀ = εη, c = (1 − β)/η², t = η²k."""

    @property
    def time_per_step(self):
        return self.learning_rate**2

    @property
    def sigma0(self):
        return self.noise_scale * self.learning_rate

    @property
    def eps0(self):
        return self.eps * self.learning_rate

    @property
    def c2(self):
        return (1 - self.b2) / self.learning_rate**2

    def _check_adaptive(self):
        self._check_common()
        check_nonnegative("eps", self.eps)
        check_positive("noise_scale", self.noise_scale)

    def _u0(self, theta0, v0):
        if v0 is None:
            return jnp.zeros_like(theta0)
        _check_vector(self.problem, v0, "v0")
        return jnp.asarray(v0, jnp.result_type(theta0)) / self.noise_scale**2

    def _du(self, state):
        """c₂(diag Σ_M − u) with diag Σ_M = diag Σ_lab/σ² (diag Σ_lab = `noise.covariance_diagonal`)."""
        diag = self.noise.covariance_diagonal(self.problem, state.theta) / self.noise_scale**2
        return self.c2 * (diag - state.u)

    def _preconditioner(self, u, eps_factor=1.0):
        """P = σ₀ √u + ε₀·eps_factor (a vector: P is diagonal)."""
        return self.sigma0 * jnp.sqrt(jnp.clip(u, 0.0)) + self.eps0 * eps_factor


class RMSpropSDE(_AdaptiveSDE):
    """RMSprop SDE (Malladi et al. 2022), state (θ, u = v/σ²), t = η²k:
    dθ = −P⁻¹(∇L dt + σ₀Σ_M^{1/2}dW), du = c₂(diag Σ_M − u)dt, P = σ₀ diag(u)^{1/2} + ε₀I.
    Approximates `sde.discrete.rmsprop(learning_rate, decay, eps)` with Σ_lab = σ²Σ_M."""

    problem: AbstractProblem
    noise: AbstractNoise
    learning_rate: float
    decay: float = 0.99
    eps: float = 1e-8
    noise_scale: float = 1.0

    def __check_init__(self):
        check_unit_interval("decay", self.decay)
        self._check_adaptive()

    @property
    def b2(self):
        return self.decay

    def init_state(self, theta0, v0=None):
        """(θ₀, u₀ = v₀/σ²); v₀ is the discrete optimizer's v (default 0, as `rmsprop().init`)."""
        _check_vector(self.problem, theta0, "theta0")
        theta0 = jnp.asarray(theta0)
        return RMSpropSDEState(theta0, self._u0(theta0, v0))

    def drift(self, t, state):
        P = self._preconditioner(state.u)
        return RMSpropSDEState(-self.problem.grad(state.theta) / P, self._du(state))

    def diffusion(self, t, state, dW):
        # σ₀Σ_M^{1/2}dW = η Σ_lab^{1/2} dW
        P = self._preconditioner(state.u)
        noise = self.learning_rate * self.noise.apply_factor(self.problem, state.theta, dW)
        return RMSpropSDEState(-noise / P, jnp.zeros_like(state.u))


class AdamSDE(_AdaptiveSDE):
    """Adam SDE (Malladi et al. 2022), state (θ, m, u = v/σ²), t = η²k:
    dθ = −(√γ₂/γ₁)P⁻¹m dt, dm = c₁(∇L − m)dt + σ₀c₁Σ_M^{1/2}dW, du = c₂(diag Σ_M − u)dt,
    P = σ₀ diag(u)^{1/2} + ε₀√γ₂ I, γ_i = 1 − e^{−c_i t} (1 without bias correction).
    Approximates `sde.discrete.adam(learning_rate, b1, b2, eps, bias_correction)`."""

    problem: AbstractProblem
    noise: AbstractNoise
    learning_rate: float
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    noise_scale: float = 1.0
    bias_correction: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        check_unit_interval("b1", self.b1)
        check_unit_interval("b2", self.b2)
        self._check_adaptive()

    @property
    def c1(self):
        return (1 - self.b1) / self.learning_rate**2

    def bias_corrections(self, t):
        """(γ₁(t), γ₂(t)) = (1 − e^{−c₁t}, 1 − e^{−c₂t}), or (1, 1) without bias correction."""
        t = jnp.asarray(t)
        if not self.bias_correction:
            return jnp.ones_like(t), jnp.ones_like(t)
        return -jnp.expm1(-self.c1 * t), -jnp.expm1(-self.c2 * t)

    def init_state(self, theta0, m0=None, v0=None):
        """(θ₀, m₀, u₀ = v₀/σ²); m₀, v₀ are the discrete optimizer's (default 0, as `adam().init`)."""
        _check_vector(self.problem, theta0, "theta0")
        theta0 = jnp.asarray(theta0)
        if m0 is None:
            m0 = jnp.zeros_like(theta0)
        else:
            _check_vector(self.problem, m0, "m0")
            m0 = jnp.asarray(m0, theta0.dtype)
        return AdamSDEState(theta0, m0, self._u0(theta0, v0))

    def drift(self, t, state):
        dtype = jnp.result_type(state.theta)
        g1, g2 = self.bias_corrections(jnp.asarray(t, dtype))
        started = (g1 > 0) & (g2 > 0)  # false only at t = 0 with bias correction
        sg2 = jnp.sqrt(jnp.where(started, g2, 1.0))
        P = self._preconditioner(state.u, sg2)
        coef = jnp.where(started, sg2 / jnp.where(started, g1, 1.0), 0.0)
        dtheta = jnp.where(started, -coef * state.m / P, 0.0)
        dm = self.c1 * (self.problem.grad(state.theta) - state.m)
        return AdamSDEState(dtheta, dm, self._du(state))

    def diffusion(self, t, state, dW):
        # σ₀c₁Σ_M^{1/2}dW = c₁ η Σ_lab^{1/2} dW
        noise = self.noise.apply_factor(self.problem, state.theta, dW)
        return AdamSDEState(jnp.zeros_like(state.theta), self.c1 * self.learning_rate * noise, jnp.zeros_like(state.u))


FIRST_ORDER_SDES: dict[str, type[AbstractFirstOrderSDE]] = {
    "sgd": SGDSDE,
    "rmsprop": RMSpropSDE,
    "adam": AdamSDE,
}


def make_first_order_sde(name: str, problem: AbstractProblem, noise: AbstractNoise, **hyperparameters) -> AbstractFirstOrderSDE:
    """Build a first-order SDE by optimizer name ('sgd', 'rmsprop', 'adam') with the discrete
    optimizer's hyperparameters (learning_rate, decay / b1, b2, eps) and `noise_scale` σ."""
    if name not in FIRST_ORDER_SDES:
        raise ValueError(f"optimizer must be one of {sorted(FIRST_ORDER_SDES)}, got {name!r}")
    return FIRST_ORDER_SDES[name](problem, noise, **hyperparameters)
