"""Adam-mini and Adalayer: one second moment per parameter block B_k (Zhang et al. 2024, Adam-mini;
Zhao et al. 2024, Adalayer; Table 1 of Li, Wen & Lyu, NeurIPS 2025).

Update: m ← β₁m + (1−β₁)g, v_k ← β₂v_k + (1−β₂)·mean_{j∈B_k} g_j², θ_j ← θ_j − η m_j/(√v_k + ε) for
j ∈ B_k (v is stored broadcast to a D-vector). 𝒱(Σ)_k = tr Σ_{B_k}/|B_k|, so under label noise
v_k* = c·tr H_{B_k}/|B_k| and the corrected slow flow is −(√c/2)∂Φ_S S∇R with

    R = Σ_k √(|B_k| · tr H_{B_k})

(exponent −½ on tr H_B/|B|; the paper's appendix prints +½: derived and decided by simulation in
docs/theory.md#adam-mini-and-adalayer-regularizer). Adam-mini's blocks are the neurons (rows of each
layer; on the diagonal net the pairs {u_i, v_i}: R ∝ Σ√(m_i|w_i|), ℓ½-like), Adalayer's the layers
(on the diagonal net all u, all v: R = 2√d(√(Σm_i w_i⁺) + √(Σm_i w_i⁻)), an increasing function of
a weighted ℓ1 norm: ℓ1-like). With one block per coordinate both are Adam.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from implicit_bias_lab.sde.discrete.validation import check_nonnegative, check_positive, check_unit_interval
from implicit_bias_lab.sde.families.base import AbstractOptimizerFamily
from implicit_bias_lab.sde.slow import adam_preconditioner


class BlockAdaptiveState(NamedTuple):
    count: jax.Array
    m: jax.Array
    v: jax.Array  # the block means broadcast to every coordinate of the block


def block_labels(sizes) -> tuple[int, ...]:
    """Labels 0, …, K−1 of consecutive blocks of the given sizes."""
    return tuple(int(k) for k, s in enumerate(sizes) for _ in range(int(s)))


class _AbstractBlockAdaptive(AbstractOptimizerFamily):
    """Adam with one v per block; `blocks[j]` is the block label of coordinate j (0, …, K−1)."""

    blocks: tuple[int, ...]

    def __check_init__(self):
        labels = np.asarray(self.blocks)
        if labels.ndim != 1 or labels.size == 0 or labels.min() != 0 or set(np.unique(labels)) != set(range(labels.max() + 1)):
            raise ValueError(f"{self.name}.blocks must label every coordinate with 0, …, K−1 (each used), got {self.blocks!r}")

    @property
    def num_blocks(self) -> int:
        return int(max(self.blocks)) + 1

    def _labels(self):
        return jnp.asarray(self.blocks)

    def block_mean(self, x):
        """x averaged over each block and broadcast back: Eᵀ Diag(1/|B|) E x."""
        labels = self._labels()
        sums = jax.ops.segment_sum(x, labels, self.num_blocks)
        sizes = jax.ops.segment_sum(jnp.ones_like(x), labels, self.num_blocks)
        return (sums / sizes)[labels]

    def transform(self, learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                  bias_correction: bool = False) -> optax.GradientTransformation:
        check_positive("learning_rate", learning_rate)
        check_unit_interval("b1", b1)
        check_unit_interval("b2", b2)
        check_nonnegative("eps", eps)
        if len(self.blocks) == 0:
            raise ValueError("blocks must not be empty")

        def init(params):
            if jnp.shape(params) != (len(self.blocks),):
                raise ValueError(f"{self.name}: params must have shape ({len(self.blocks)},) (one block label each), got {jnp.shape(params)}")
            zeros = jnp.zeros_like(params)
            return BlockAdaptiveState(jnp.zeros((), jnp.int32), zeros, zeros)

        def update(grads, state, params=None):
            count = state.count + 1
            m = b1 * state.m + (1 - b1) * grads
            v = b2 * state.v + (1 - b2) * self.block_mean(grads * grads)
            if bias_correction:
                k = count.astype(grads.dtype)
                m_hat, v_hat = m / (1 - b1**k), v / (1 - b2**k)
            else:
                m_hat, v_hat = m, v
            return -learning_rate * m_hat / (jnp.sqrt(v_hat) + eps), BlockAdaptiveState(count, m, v)

        return optax.GradientTransformation(init, update)

    def optax_reference(self, learning_rate, b1=0.9, b2=0.999, eps=1e-8, bias_correction=False):
        """`optax.adam` when every block is one coordinate and the bias correction is on."""
        if bias_correction and self.num_blocks == len(self.blocks):
            return optax.adam(learning_rate, b1, b2, eps)
        return None

    def second_moment(self, Sigma):
        return self.block_mean(jnp.diagonal(Sigma))

    def second_moment_of_gradient(self, g):
        return self.block_mean(g * g)

    def fixed_point_from_diagonal(self, h):
        return self.block_mean(h)

    def preconditioner(self, v, eps: float = 0.0):
        return adam_preconditioner(v, eps, 0.5)

    def regularizer_from_diagonal(self, h):
        labels = self._labels()
        traces = jax.ops.segment_sum(h, labels, self.num_blocks)
        sizes = jax.ops.segment_sum(jnp.ones_like(h), labels, self.num_blocks)
        return jnp.sum(jnp.sqrt(sizes * traces))

    def regularizer_coefficient(self, c):
        return 0.5 * c**0.5


class AdamMini(_AbstractBlockAdaptive):
    """Adam-mini: one v per neuron (`neuron_blocks`; on the diagonal net the pairs {u_i, v_i})."""

    name: ClassVar[str] = "adam_mini"

    @classmethod
    def for_model(cls, model):
        return cls(blocks=neuron_blocks(model))


class Adalayer(_AbstractBlockAdaptive):
    """Adalayer: one v per layer (`layer_blocks`; on the diagonal net all u, all v)."""

    name: ClassVar[str] = "adalayer"

    @classmethod
    def for_model(cls, model):
        return cls(blocks=layer_blocks(model))


def neuron_blocks(model) -> tuple[int, ...]:
    """Adam-mini's blocks of a model: the pairs {u_i, v_i} of a `DiagonalNet`, the rows (output
    neurons) of each layer of a `DeepLinearNet`."""
    from implicit_bias_lab.models import DeepLinearNet, DiagonalNet

    if isinstance(model, DiagonalNet):
        return tuple(range(model.dim)) * (1 if model.positive else 2)
    if isinstance(model, DeepLinearNet):
        return block_labels([q for p, q in model.shapes for _ in range(p)])
    raise TypeError(f"no neuron blocks known for {type(model).__name__}; pass blocks= explicitly")


def layer_blocks(model) -> tuple[int, ...]:
    """Adalayer's blocks: all u and all v of a `DiagonalNet`, each weight matrix of a `DeepLinearNet`."""
    from implicit_bias_lab.models import DeepLinearNet, DiagonalNet

    if isinstance(model, DiagonalNet):
        return block_labels([model.dim] * (1 if model.positive else 2))
    if isinstance(model, DeepLinearNet):
        return block_labels([p * q for p, q in model.shapes])
    raise TypeError(f"no layer blocks known for {type(model).__name__}; pass blocks= explicitly")
