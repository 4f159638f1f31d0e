"""Deep linear nets with one learning rate per layer, on a linear teacher (Pang et al., ICML 2026).

The setting of the paper's official code (docs/theory.md#81-layer-wise-learning-rate-balancing):

* **2-layer, vector output**: f(x) = W₂ᵀW₁ᵀx / h ∈ R^h, W₁ ∈ R^{d×h}, W₂ ∈ R^{h×h}; the effective
  predictor is V = W₁W₂/h ∈ R^{d×h} and the teacher β = Q_b/√d (Q_bᵀQ_b = I_h), so ‖β‖_F = 1.
* **L-layer, fixed readout** (L ≥ 3): f(x) = aᵀW_{L−1}ᵀ⋯W₁ᵀx / √h with a fixed a ~ N(0, I_h/h);
  v = W₁⋯W_{L−1}a/√h ∈ R^d and β ~ N(0, I_d/h). "3-layer" trains W₁, W₂; "4-layer" W₁, W₂, W₃; …
* **Data**: whitened inputs X = √n Q_x (XᵀX = nI_d) and noiseless labels Y = Xβ, so the train loss
  (1/2n)‖XV − Y‖²_F equals ½‖V − β‖²_F and its gradient in V is the residual R = V − β. The
  Gaussian variant uses Gaussian X, for which the gradient in V is Σ̂R with Σ̂ = XᵀX/n.
* **Test loss**: the population loss E_x‖f(x) − βᵀx‖² = ‖V − β‖²_F for x ~ N(0, I_d). (The official
  code averages 500 Gaussian test rows, an unbiased estimate of the same quantity.)

The **signal-only surrogate** (docs/theory.md#82-gradients-and-the-signal-only-surrogate) replaces the residual R by −β at every step; its gradients are
those of the linear objective −⟨V, Σ̂β⟩.

How GD moves on these problems (W_ℓ ← W_ℓ − η_ℓ ∇_{W_ℓ}L, one learning rate per layer, and the
budget-line sweeps) lives in `sde.closed_form.linear_net_gd`; the surrogate's closed-form losses
after k steps in `sde.closed_form.linear_net_surrogate`.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array

INITS = ("orthogonal", "gaussian")


def haar_orthogonal(key: Array, rows: int, cols: int | None = None, dtype=jnp.float64) -> Array:
    """A rows×cols matrix with orthonormal columns, Haar-distributed (cols ≤ rows; square if None).

    QR of a Gaussian matrix with the signs of diag(R) moved into Q (Mezzadri 2007).
    """
    cols = rows if cols is None else cols
    if not 1 <= cols <= rows:
        raise ValueError(f"cols must lie in [1, rows={rows}], got {cols}")
    q, r = jnp.linalg.qr(jax.random.normal(key, (rows, cols), dtype))
    return q * jnp.sign(jnp.diag(r))[None, :]


def whitened_inputs(key: Array, num_samples: int, input_dim: int, dtype=jnp.float64) -> Array:
    """X = √n Q_x with orthonormal columns, so XᵀX = n I_d (needs d ≤ n)."""
    return math.sqrt(num_samples) * haar_orthogonal(key, num_samples, input_dim, dtype)


def num_trainable_layers(depth: int) -> int:
    """W₁, W₂ for the 2-layer net; W₁ … W_{L−1} (readout fixed) for depth L ≥ 3."""
    return 2 if depth == 2 else depth - 1


class LayerwiseLinearProblem(eqx.Module):
    """A linear teacher and a deep linear student whose layers get separate learning rates.

    `beta` is (d, h) for depth 2 and (d,) for depth ≥ 3; `readout` is the fixed a (None for
    depth 2); `input_cov` is Σ̂ = XᵀX/n, or None for whitened inputs (Σ̂ = I).
    """

    depth: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    beta: Array
    readout: Array | None = None
    input_cov: Array | None = None

    def __check_init__(self):
        if int(self.depth) < 2:
            raise ValueError(f"depth must be >= 2, got {self.depth}")
        if int(self.width) < 1:
            raise ValueError(f"width must be >= 1, got {self.width}")
        if self.depth == 2:
            if jnp.ndim(self.beta) != 2 or jnp.shape(self.beta)[1] != self.width:
                raise ValueError(f"beta must have shape (d, {self.width}) for depth 2, got {jnp.shape(self.beta)}")
            if self.readout is not None:
                raise ValueError("readout must be None for the 2-layer (vector-output) net")
        else:
            if jnp.ndim(self.beta) != 1:
                raise ValueError(f"beta must be a vector (d,) for depth {self.depth}, got {jnp.shape(self.beta)}")
            if self.readout is None or jnp.shape(self.readout) != (self.width,):
                raise ValueError(f"readout must have shape ({self.width},) for depth {self.depth}")

    @property
    def input_dim(self) -> int:
        return int(jnp.shape(self.beta)[0])

    @property
    def num_layers_trained(self) -> int:
        return num_trainable_layers(self.depth)

    def predictor(self, weights: tuple[Array, ...]) -> Array:
        """V = W₁W₂/h (depth 2) or v = W₁⋯W_{L−1}a/√h (depth L ≥ 3)."""
        if self.depth == 2:
            w1, w2 = weights
            return w1 @ w2 / self.width
        out = self.readout
        for w in reversed(weights):
            out = w @ out
        return out / math.sqrt(self.width)

    def residual(self, weights) -> Array:
        return self.predictor(weights) - self.beta

    def _cov(self, r: Array) -> Array:
        return r if self.input_cov is None else self.input_cov @ r

    def train_loss(self, weights) -> Array:
        """(1/2n)‖XV − Xβ‖² = ½⟨R, Σ̂R⟩."""
        r = self.residual(weights)
        return 0.5 * jnp.sum(r * self._cov(r))

    def test_loss(self, weights) -> Array:
        """Population test loss ‖V − β‖²_F (x ~ N(0, I_d))."""
        r = self.residual(weights)
        return jnp.sum(r * r)

    def surrogate_objective(self, weights) -> Array:
        """−⟨V, Σ̂β⟩: its gradient is the GD gradient with the residual replaced by −β."""
        return -jnp.sum(self.predictor(weights) * self._cov(self.beta))

    def gradients(self, weights, surrogate: bool = False) -> tuple[Array, ...]:
        """∇_{W_ℓ} of the train loss, or of the surrogate objective when `surrogate`."""
        fn = self.surrogate_objective if surrogate else self.train_loss
        return jax.grad(fn)(tuple(weights))


def closed_form_gradients(problem: LayerwiseLinearProblem, weights) -> tuple[Array, ...]:
    """The hand-derived gradients of docs/theory.md#82-gradients-and-the-signal-only-surrogate for whitened inputs (depth 2 and 3).

    2-layer: ∇W₁ = R W₂ᵀ/h, ∇W₂ = W₁ᵀR/h.  3-layer: ∇W₁ = r (W₂a)ᵀ/√h, ∇W₂ = W₁ᵀ r aᵀ/√h.
    """
    h = problem.width
    r = problem.residual(weights)
    if problem.depth == 2:
        w1, w2 = weights
        return r @ w2.T / h, w1.T @ r / h
    if problem.depth == 3:
        w1, w2 = weights
        a = problem.readout
        return jnp.outer(r, w2 @ a) / math.sqrt(h), jnp.outer(w1.T @ r, a) / math.sqrt(h)
    raise ValueError(f"closed-form gradients exist for depth 2 and 3, got depth {problem.depth}")


def sample_problem(
    key: Array,
    depth: int,
    width: int,
    init: str = "orthogonal",
    unit_norm: bool = False,
    dtype=jnp.float64,
) -> tuple[LayerwiseLinearProblem, tuple[Array, ...]]:
    """A teacher, a student init and the data covariance, as in the official code (d = n = h).

    orthogonal: W₁ Haar (orthonormal columns), the other W_ℓ Haar, whitened X (Σ̂ = I).
    gaussian:   W₁ ~ N(0, 1/d), W_ℓ ~ N(0, 1/h), Gaussian X (Σ̂ = XᵀX/n, n = d), Gaussian β.
    `unit_norm` rescales a and β to norm exactly 1 (the normalisation under which the
    surrogate closed forms are exact expectations; the official code has ‖a‖, ‖β‖ ≈ 1).
    """
    if init not in INITS:
        raise ValueError(f"init must be one of {INITS}, got {init!r}")
    if depth < 2:
        raise ValueError(f"depth must be >= 2, got {depth}")
    d = n = width
    k_weights, kb, ka, kx = jax.random.split(key, 4)
    kw = jax.random.split(k_weights, num_trainable_layers(depth))
    if init == "orthogonal":
        weights = (haar_orthogonal(kw[0], d, width, dtype),) + tuple(
            haar_orthogonal(k, width, width, dtype) for k in kw[1:]
        )
        input_cov = None
    else:
        weights = (jax.random.normal(kw[0], (d, width), dtype) / math.sqrt(d),) + tuple(
            jax.random.normal(k, (width, width), dtype) / math.sqrt(width) for k in kw[1:]
        )
        x = jax.random.normal(kx, (n, d), dtype)
        input_cov = x.T @ x / n
    if depth == 2:
        if init == "orthogonal":
            beta = haar_orthogonal(kb, d, width, dtype) / math.sqrt(d)
        else:
            beta = jax.random.normal(kb, (d, width), dtype) / math.sqrt(d * width)
        readout = None
    else:
        beta = jax.random.normal(kb, (d,), dtype) / math.sqrt(width)
        readout = jax.random.normal(ka, (width,), dtype) / math.sqrt(width)
        if unit_norm:
            beta = beta / jnp.linalg.norm(beta)
            readout = readout / jnp.linalg.norm(readout)
    if unit_norm and depth == 2:
        beta = beta / jnp.linalg.norm(beta)
    return LayerwiseLinearProblem(depth, width, beta, readout, input_cov), weights


__all__ = [
    "INITS",
    "LayerwiseLinearProblem",
    "closed_form_gradients",
    "haar_orthogonal",
    "num_trainable_layers",
    "sample_problem",
    "whitened_inputs",
]
