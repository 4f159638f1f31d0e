"""Shampoo (EMA form, Gupta, Koren & Singer 2018; Table 1 of Li, Wen & Lyu, NeurIPS 2025): per weight
matrix W ∈ R^{p×q} with gradient block G, V_L ← β₂V_L + (1−β₂)GGᵀ, V_R ← β₂V_R + (1−β₂)GᵀG and
ΔW = −η (V_L + εI)^{−λ} M (V_R + εI)^{−λ}.

θ holds the matrices row-major, so on θ the preconditioner is S = blockdiag_W((V_L+εI)^{−λ} ⊗
(V_R+εI)^{−λ}) (vec_r(AMB) = (A ⊗ Bᵀ)vec_r M): a full, non-diagonal SPD matrix. 𝒱(Σ) are the partial
traces of each W-block of Σ (V_L = E[GGᵀ], V_R = E[GᵀG]). Its label-noise slow flow is the general
−(c/4)∂Φ_S S∇³L[S] of the base class; it is not the gradient flow of any potential (non-zero curl on
a 2×2 factorization; docs/theory.md#shampoo-has-no-potential), so `regularizer_from_diagonal` is None.
λ = ½ per side is the exponent of the paper's Table 1 and the default; Gupta et al. use ¼.
With ε = 0 the state must be positive definite (start at the fixed point, or take ε > 0).
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import optax

from implicit_bias_lab.sde.discrete.validation import check_nonnegative, check_positive, check_unit_interval
from implicit_bias_lab.sde.families.base import AbstractOptimizerFamily


class ShampooState(NamedTuple):
    count: jax.Array
    m: jax.Array
    v: tuple  # ((V_L, V_R) per matrix)


def symmetric_power(V, power, eps=0.0):
    """(V + εI)^power of a symmetric PSD V (eigh; negative round-off clipped)."""
    lam, U = jnp.linalg.eigh(0.5 * (V + V.T))
    return (U * (jnp.clip(lam, 0.0) + eps) ** power) @ U.T


class Shampoo(AbstractOptimizerFamily):
    """EMA Shampoo on parameters made of matrices of the given `shapes` ((p, q) each, row-major)."""

    name: ClassVar[str] = "shampoo"
    shapes: tuple[tuple[int, int], ...]
    power: float = 0.5

    def __check_init__(self):
        if not self.shapes or any(len(s) != 2 or min(s) < 1 for s in self.shapes):
            raise ValueError(f"shampoo.shapes must be a non-empty tuple of (p, q) with p, q >= 1, got {self.shapes!r}")
        check_positive("power", self.power)

    @classmethod
    def for_model(cls, model):
        return cls(shapes=matrix_shapes(model))

    def _blocks(self):
        out, start = [], 0
        for p, q in self.shapes:
            out.append((start, int(p), int(q)))
            start += p * q
        return out

    @property
    def num_params(self) -> int:
        return sum(p * q for p, q in self.shapes)

    def transform(self, learning_rate, b1: float = 0.9, b2: float = 0.999, eps: float = 0.0) -> optax.GradientTransformation:
        check_positive("learning_rate", learning_rate)
        check_unit_interval("b1", b1)
        check_unit_interval("b2", b2)
        check_nonnegative("eps", eps)

        def init(params):
            if jnp.shape(params) != (self.num_params,):
                raise ValueError(f"shampoo: params must have shape ({self.num_params},) for shapes {self.shapes}, got {jnp.shape(params)}")
            v = tuple((jnp.zeros((p, p), params.dtype), jnp.zeros((q, q), params.dtype)) for p, q in self.shapes)
            return ShampooState(jnp.zeros((), jnp.int32), jnp.zeros_like(params), v)

        def update(grads, state, params=None):
            m = b1 * state.m + (1 - b1) * grads
            stat = self.second_moment_of_gradient(grads)
            v = jax.tree_util.tree_map(lambda a, b: b2 * a + (1 - b2) * b, state.v, stat)
            steps = []
            for (s, p, q), (VL, VR) in zip(self._blocks(), v):
                M = m[s : s + p * q].reshape(p, q)
                steps.append((symmetric_power(VL, -self.power, eps) @ M @ symmetric_power(VR, -self.power, eps)).reshape(-1))
            return -learning_rate * jnp.concatenate(steps), ShampooState(state.count + 1, m, v)

        return optax.GradientTransformation(init, update)

    def second_moment(self, Sigma):
        out = []
        for s, p, q in self._blocks():
            C = Sigma[s : s + p * q, s : s + p * q].reshape(p, q, p, q)
            out.append((jnp.einsum("iaja->ij", C), jnp.einsum("aiaj->ij", C)))
        return tuple(out)

    def second_moment_of_gradient(self, g):
        out = []
        for s, p, q in self._blocks():
            G = g[s : s + p * q].reshape(p, q)
            out.append((G @ G.T, G.T @ G))
        return tuple(out)

    def preconditioner(self, v, eps: float = 0.0):
        return jax.scipy.linalg.block_diag(
            *[jnp.kron(symmetric_power(VL, -self.power, eps), symmetric_power(VR, -self.power, eps)) for VL, VR in v]
        )


def matrix_shapes(model) -> tuple[tuple[int, int], ...]:
    """Shampoo's matrices of a `DeepLinearNet` (its layers)."""
    return tuple((int(p), int(q)) for p, q in model.shapes)
