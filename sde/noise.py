"""Noise models: what is random in one optimizer step, and its covariance Σ(θ).

Convention (docs/theory.md#1-conventions): a noisy step uses g = ∇L(θ) + ξ with Cov ξ = Σ(θ),
the per-step gradient-noise covariance (already divided by the batch size).

* LabelNoise, full batch: every label gets fresh noise of variance δ² each step,
  g = (1/n) Jᵀ(r − ε) ⇒ Σ = (δ²/n)·JᵀJ/n, i.e. Σ = cH on Γ with c = δ²/n.
* LabelNoise, batch B: B rows sampled, each with fresh label noise; on Γ Σ = cH with c = δ²/B
  (off Γ the sampling covariance below is added).
* MinibatchNoise: the gradient of a random batch of B rows; Σ = κ_B·C with
  C = (1/n)Σ_k g_k g_kᵀ − ḡḡᵀ (g_k = r_k∇f_k), κ_B = 1/B with replacement and
  (n − B)/(B(n − 1)) without.
* IsotropicNoise: g = ∇L + σz, Σ = σ²I.
* AntitheticNoise(base): g = 2∇L − g_base, the base's Σ.

Besides Σ, every noise gives a factor B(θ) (D × m) with B Bᵀ = Σ(θ): `apply_factor` computes
Bz for z ∈ R^m (m = `factor_dimension`) without forming Σ where the noise model gives B directly,
`factor` the matrix B, and `covariance_diagonal` diag Σ in closed form. They drive the first-order
SDEs dθ = −(∇L dt + √η Σ^{1/2} dW) and Malladi et al.'s RMSprop/Adam SDEs (`sde.first_order`,
docs/theory.md#5-first-order-sdes), in which Σ^{1/2}dW is read as B dW: any B with B Bᵀ = Σ gives
the same law.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

from implicit_bias_lab.models.base import AbstractProblem, SquaredLossProblem

LABEL_DISTRIBUTIONS = ("gaussian", "rademacher")


def _require_squared_loss(problem: AbstractProblem, noise: str) -> SquaredLossProblem:
    if not isinstance(problem, SquaredLossProblem):
        raise TypeError(
            f"{noise} needs a SquaredLossProblem (per-sample predictions); "
            f"got {type(problem).__name__}. Use IsotropicNoise for a plain loss."
        )
    return problem


def _sample_rows(key: Array, n: int, batch_size: int, replace: bool) -> Array:
    if replace:
        return jax.random.randint(key, (batch_size,), 0, n)
    return jax.random.permutation(key, n)[:batch_size]


def _sampling_factor(n: int, batch_size: int, replace: bool) -> float:
    if replace:
        return 1.0 / batch_size
    return 0.0 if n == 1 else (n - batch_size) / (batch_size * (n - 1))


def _sampling_covariance(problem: SquaredLossProblem, theta: Array, batch_size: int, replace: bool) -> Array:
    G = problem.per_sample_gradients(theta)
    mean = jnp.mean(G, axis=0)
    C = G.T @ G / problem.num_samples - jnp.outer(mean, mean)
    return _sampling_factor(problem.num_samples, batch_size, replace) * C


def _sampling_covariance_diagonal(problem: SquaredLossProblem, theta: Array, batch_size: int, replace: bool) -> Array:
    """diag(κ_B·C) = κ_B((1/n)Σ_k g_k² − ḡ²) (entrywise), without the D × D matrix C."""
    G = problem.per_sample_gradients(theta)
    kappa = _sampling_factor(problem.num_samples, batch_size, replace)
    return kappa * (jnp.mean(G * G, axis=0) - jnp.mean(G, axis=0) ** 2)


def _jacobian_transpose_times(problem: SquaredLossProblem, theta: Array, w: Array) -> Array:
    """Jᵀw (J = ∂f/∂θ over the n rows) as one VJP, without forming J."""
    _, vjp = jax.vjp(problem.predictions, theta)
    (out,) = vjp(w.astype(jnp.result_type(theta)))
    return out


def _sampling_noise(problem: SquaredLossProblem, theta: Array, z: Array, batch_size: int, replace: bool) -> Array:
    """√(κ_B/n) Gᵀ(I − 11ᵀ/n) z, G = (r_k ∇f_k)_k (n × D), z ∈ Rⁿ: a factor of the sampling
    covariance κ_B·C, since (1/n) Gᵀ(I − 11ᵀ/n)G = C."""
    n = problem.num_samples
    scale = jnp.sqrt(_sampling_factor(n, batch_size, replace) / n)
    r = problem.residuals(theta)
    return scale * _jacobian_transpose_times(problem, theta, r * (z - jnp.mean(z)))


def symmetric_sqrt(Sigma: Array) -> Array:
    """Σ^{1/2} of a symmetric PSD matrix (eigh; tiny negative eigenvalues clipped to 0)."""
    lam, V = jnp.linalg.eigh(0.5 * (Sigma + Sigma.T))
    return (V * jnp.sqrt(jnp.clip(lam, 0.0))) @ V.T


def _as_draw(z: Array, theta: Array) -> Array:
    """z in θ's dtype (a factor is applied in the dtype of the parameters)."""
    return jnp.asarray(z, jnp.result_type(theta))


class AbstractNoise(eqx.Module):
    """A noise model: `stochastic_gradient` draws g for one step, `covariance` gives Σ(θ), and
    `apply_factor` / `factor` a factor B(θ) (D × m, m = `factor_dimension`) with B Bᵀ = Σ(θ).

    Only `stochastic_gradient` and `covariance` are abstract; the factor defaults to the symmetric
    square root Σ^{1/2} (eigh, m = D) and `covariance_diagonal` to diag Σ, both from the D × D
    matrix. A noise model that knows a cheaper factor or diagonal overrides them.
    """

    @abc.abstractmethod
    def stochastic_gradient(self, problem: AbstractProblem, theta: Array, key: Array) -> Array: ...

    @abc.abstractmethod
    def covariance(self, problem: AbstractProblem, theta: Array) -> Array: ...

    def stochastic_gradients(self, problem: AbstractProblem, thetas: Array, keys: Array) -> Array:
        """`stochastic_gradient` of G runs on one problem at once, thetas (G, D) with one key each:
        the same draws. Default: vmapped; a noise whose gradients are products with a shared
        design overrides it so the G runs share those products (`LabelNoise`)."""
        return jax.vmap(lambda theta, key: self.stochastic_gradient(problem, theta, key))(thetas, keys)

    def factor_dimension(self, problem: AbstractProblem) -> int:
        """m, the dimension of z in Bz (the columns of `factor`; the Brownian motion W in the
        SDE's Σ^{1/2}dW, docs/theory.md#5-first-order-sdes). Default: m = D."""
        return problem.num_params

    def apply_factor(self, problem: AbstractProblem, theta: Array, z: Array) -> Array:
        """B(θ)z for z ∈ R^m, B Bᵀ = Σ(θ). Default: B = Σ^{1/2}, the symmetric square root of
        `covariance` (eigh)."""
        return symmetric_sqrt(self.covariance(problem, theta)) @ _as_draw(z, theta)

    def factor(self, problem: AbstractProblem, theta: Array) -> Array:
        """The matrix B(θ) (D × m) of `apply_factor`, B Bᵀ = Σ(θ) (for tests and small D)."""
        eye = jnp.eye(self.factor_dimension(problem), dtype=jnp.result_type(theta))
        return jax.vmap(lambda z: self.apply_factor(problem, theta, z), out_axes=1)(eye)

    def covariance_diagonal(self, problem: AbstractProblem, theta: Array) -> Array:
        """diag Σ(θ) (the du drift of the RMSprop/Adam SDEs, docs/theory.md#5-first-order-sdes).
        Default: the diagonal of `covariance`."""
        return jnp.diag(self.covariance(problem, theta))

    def validate(self, problem: AbstractProblem) -> None:
        """Raise a ValueError naming the field when this noise does not fit `problem`."""

    def label_noise_constant(self, problem: AbstractProblem) -> float | None:
        """c in Σ = cH on Γ, or None when the noise is not of that form."""
        return None


class NoNoise(AbstractNoise):
    """Plain gradient descent: g = ∇L, Σ = 0."""

    def stochastic_gradient(self, problem, theta, key):
        return problem.grad(theta)

    def covariance(self, problem, theta):
        return jnp.zeros((problem.num_params, problem.num_params), jnp.result_type(theta))

    def factor_dimension(self, problem):
        """m = 1: B = 0 (D × 1)."""
        return 1

    def apply_factor(self, problem, theta, z):
        """Bz = 0."""
        return jnp.zeros_like(theta)

    def covariance_diagonal(self, problem, theta):
        """diag Σ = 0."""
        return jnp.zeros_like(theta)


class LabelNoise(AbstractNoise):
    """Label noise of standard deviation δ (Gaussian or ±δ) on every label of the full batch
    (`batch_size=None`, c = δ²/n) or on a random batch of B rows (c = δ²/B)."""

    delta: float
    distribution: str = eqx.field(static=True, default="rademacher")
    batch_size: int | None = eqx.field(static=True, default=None)
    replace: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if isinstance(self.delta, (int, float)) and not self.delta >= 0:
            raise ValueError(f"LabelNoise.delta must be >= 0, got {self.delta}")
        if self.distribution not in LABEL_DISTRIBUTIONS:
            raise ValueError(
                f"LabelNoise.distribution must be one of {LABEL_DISTRIBUTIONS}, got {self.distribution!r}"
            )
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise ValueError(f"LabelNoise.batch_size must be >= 1 or None, got {self.batch_size}")

    def validate(self, problem):
        problem = _require_squared_loss(problem, "LabelNoise")
        if self.batch_size is not None and not self.batch_size <= problem.num_samples:
            raise ValueError(
                f"LabelNoise.batch_size must lie in [1, n={problem.num_samples}], got {self.batch_size}"
            )

    def _draw(self, key, shape, dtype):
        if self.distribution == "gaussian":
            return self.delta * jax.random.normal(key, shape, dtype)
        return self.delta * jax.random.rademacher(key, shape, dtype)

    def stochastic_gradient(self, problem, theta, key):
        problem = _require_squared_loss(problem, "LabelNoise")
        dtype = jnp.result_type(theta)
        if self.batch_size is None:
            eps = self._draw(key, (problem.num_samples,), dtype)
            return problem.labelled_gradient(theta, problem.y + eps)
        krow, keps = jax.random.split(key)
        rows = _sample_rows(krow, problem.num_samples, self.batch_size, self.replace)
        eps = self._draw(keps, (self.batch_size,), dtype)
        return problem.labelled_gradient(theta, problem.y[rows] + eps, rows)

    def stochastic_gradients(self, problem, thetas, keys):
        """Full batch: each run's labels y + ε drawn as `stochastic_gradient` draws them (its own
        key), the G gradients then as one `SquaredLossProblem.labelled_gradients` (X read once for
        all G when the model is linear in x). With a batch B: vmapped, as the base class."""
        problem = _require_squared_loss(problem, "LabelNoise")
        if self.batch_size is not None:
            return super().stochastic_gradients(problem, thetas, keys)
        eps = jax.vmap(lambda key: self._draw(key, (problem.num_samples,), jnp.result_type(thetas)))(keys)
        return problem.labelled_gradients(thetas, problem.y + eps)

    def label_noise_constant(self, problem):
        problem = _require_squared_loss(problem, "LabelNoise")
        batch = problem.num_samples if self.batch_size is None else self.batch_size
        return self.delta**2 / batch

    def covariance(self, problem, theta):
        problem = _require_squared_loss(problem, "LabelNoise")
        label_part = self.label_noise_constant(problem) * problem.gauss_newton_hessian(theta)
        if self.batch_size is None:
            return label_part
        return label_part + _sampling_covariance(problem, theta, self.batch_size, self.replace)

    def factor_dimension(self, problem):
        """m = n (full batch: one coordinate per label) or 2n (batch B: labels, then rows)."""
        n = problem.num_samples
        return n if self.batch_size is None else 2 * n

    def apply_factor(self, problem, theta, z):
        """Bz without forming Σ (docs/theory.md#3-label-noise; J = ∂f/∂θ, n × D).

        * Full batch: ξ = −(1/n)Jᵀε with ε = δz, so B = −(δ/n)Jᵀ (m = n) and
          B Bᵀ = (δ²/n)·JᵀJ/n = Σ. For the Gaussian variant z is the discrete engine's own draw.
        * Batch B: B = [δ/√(Bn) Jᵀ, √(κ_B/n) Gᵀ(I − 11ᵀ/n)] on z = (z_label, z_rows) ∈ R^{2n}, with
          G = (r_k∇f_k)_k: B Bᵀ = (δ²/B)·JᵀJ/n + κ_B·C = Σ (equal to Σ in law only).
        """
        problem = _require_squared_loss(problem, "LabelNoise")
        z = _as_draw(z, theta)
        n = problem.num_samples
        if self.batch_size is None:
            return -(self.delta / n) * _jacobian_transpose_times(problem, theta, z)
        B = self.batch_size
        label = (self.delta / jnp.sqrt(B * n)) * _jacobian_transpose_times(problem, theta, z[:n])
        return label + _sampling_noise(problem, theta, z[n:], B, self.replace)

    def covariance_diagonal(self, problem, theta):
        """diag Σ = c·diag(JᵀJ/n) (+ κ_B·diag C with a batch B), without the D × D matrix."""
        problem = _require_squared_loss(problem, "LabelNoise")
        label = self.label_noise_constant(problem) * problem.gauss_newton_diagonal(theta)
        if self.batch_size is None:
            return label.astype(jnp.result_type(theta))
        return label + _sampling_covariance_diagonal(problem, theta, self.batch_size, self.replace)


class MinibatchNoise(AbstractNoise):
    """The gradient of a random batch of B rows (with or without replacement)."""

    batch_size: int = eqx.field(static=True)
    replace: bool = eqx.field(static=True, default=False)

    def __check_init__(self):
        if int(self.batch_size) < 1:
            raise ValueError(f"MinibatchNoise.batch_size must be >= 1, got {self.batch_size}")

    def validate(self, problem):
        problem = _require_squared_loss(problem, "MinibatchNoise")
        if not self.batch_size <= problem.num_samples:
            raise ValueError(
                f"MinibatchNoise.batch_size must lie in [1, n={problem.num_samples}], got {self.batch_size}"
            )

    def stochastic_gradient(self, problem, theta, key):
        problem = _require_squared_loss(problem, "MinibatchNoise")
        rows = _sample_rows(key, problem.num_samples, self.batch_size, self.replace)
        return problem.labelled_gradient(theta, problem.y[rows], rows)

    def covariance(self, problem, theta):
        problem = _require_squared_loss(problem, "MinibatchNoise")
        return _sampling_covariance(problem, theta, self.batch_size, self.replace)

    def factor_dimension(self, problem):
        """m = n: one coordinate per row."""
        return problem.num_samples

    def apply_factor(self, problem, theta, z):
        """Bz with B = √(κ_B/n) Gᵀ(I − 11ᵀ/n), G = (r_k∇f_k)_k (n × D): B Bᵀ = κ_B·C = Σ
        (docs/theory.md#1-conventions), without forming G or Σ."""
        problem = _require_squared_loss(problem, "MinibatchNoise")
        return _sampling_noise(problem, theta, _as_draw(z, theta), self.batch_size, self.replace)

    def covariance_diagonal(self, problem, theta):
        """diag Σ = κ_B((1/n)Σ_k g_k² − ḡ²), without the D × D matrix."""
        problem = _require_squared_loss(problem, "MinibatchNoise")
        return _sampling_covariance_diagonal(problem, theta, self.batch_size, self.replace)


class IsotropicNoise(AbstractNoise):
    """g = ∇L + σz with z ~ N(0, I): Σ = σ²I."""

    sigma: float

    def __check_init__(self):
        if isinstance(self.sigma, (int, float)) and not self.sigma >= 0:
            raise ValueError(f"IsotropicNoise.sigma must be >= 0, got {self.sigma}")

    def stochastic_gradient(self, problem, theta, key):
        z = jax.random.normal(key, jnp.shape(theta), jnp.result_type(theta))
        return problem.grad(theta) + self.sigma * z

    def covariance(self, problem, theta):
        return self.sigma**2 * jnp.eye(problem.num_params, dtype=jnp.result_type(theta))

    def apply_factor(self, problem, theta, z):
        """Bz = σz (B = σI, m = D): z is the discrete engine's own draw."""
        return self.sigma * _as_draw(z, theta)

    def covariance_diagonal(self, problem, theta):
        """diag Σ = σ²·1."""
        return jnp.full(jnp.shape(theta), self.sigma**2, jnp.result_type(theta))


class AntitheticNoise(AbstractNoise):
    """The mirror image of another noise, g = 2∇L − g_base: the same draw with ξ → −ξ (same key,
    same Σ). Averaging runs of `base` with runs of this noise on the same keys cancels every term
    odd in the noise (antithetic variates), which removes the O(√η) spread of mean displacements
    in discrete-vs-slow comparisons (tests/test_families.py)."""

    base: AbstractNoise

    def validate(self, problem):
        self.base.validate(problem)

    def stochastic_gradient(self, problem, theta, key):
        return 2 * problem.grad(theta) - self.base.stochastic_gradient(problem, theta, key)

    def covariance(self, problem, theta):
        return self.base.covariance(problem, theta)

    def label_noise_constant(self, problem):
        return self.base.label_noise_constant(problem)

    def factor_dimension(self, problem):
        """The base's m."""
        return self.base.factor_dimension(problem)

    def apply_factor(self, problem, theta, z):
        """−B_base z: ξ → −ξ on the same z, and (−B)(−B)ᵀ = Σ_base = Σ. Where the base's Bz is
        the discrete noise on the draw z, this one is the mirrored run's."""
        return -self.base.apply_factor(problem, theta, z)

    def covariance_diagonal(self, problem, theta):
        """The base's diag Σ."""
        return self.base.covariance_diagonal(problem, theta)


NOISES: dict[str, type[AbstractNoise]] = {
    "none": NoNoise,
    "label": LabelNoise,
    "minibatch": MinibatchNoise,
    "isotropic": IsotropicNoise,
}


def make_noise(name: str, **kwargs) -> AbstractNoise:
    """Build a noise model by name; an unknown name raises a ValueError listing the known ones."""
    if name not in NOISES:
        raise ValueError(f"noise must be one of {sorted(NOISES)}, got {name!r}")
    return NOISES[name](**kwargs)
