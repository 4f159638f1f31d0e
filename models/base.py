"""Problems as pure JAX: a per-sample prediction f(θ, x) and the squared loss built from it.

Conventions (docs/theory.md#1-conventions): L(θ) = (1/2n) Σ_k (f_k(θ) − y_k)², H = ∇²L,
J = ∂f/∂θ ∈ R^{n×D}. On the manifold Γ of interpolating minimizers the residuals vanish, so
H = JᵀJ/n (the Gauss–Newton matrix) there.
"""

from __future__ import annotations

import abc
from typing import Callable, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import Array



# floating dtypes a design may be stored in narrower than the run computes (`NarrowDesignProblem`)
NARROW_DTYPES = ("bfloat16", "float16")


def cast_float_leaves(tree, dtype):
    """`tree` with every floating-point array leaf cast to `dtype` (other leaves unchanged)."""

    def cast(leaf):
        if eqx.is_array(leaf) and jnp.issubdtype(leaf.dtype, jnp.floating):
            return leaf.astype(dtype)
        return leaf

    return jax.tree_util.tree_map(cast, tree)


def check_size(field: str, value, minimum: int = 1) -> None:
    """A size (dimension, width, depth) must be an integer >= `minimum` (bools and 2.5 are refused),
    with an error naming the field."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < minimum:
        raise ValueError(f"{field} must be an integer >= {minimum}, got {value!r}")

class AbstractModel(eqx.Module):
    """A per-sample prediction f(θ, x) ∈ R with θ a flat parameter vector.

    Subclasses set `num_params` (length of θ) and `input_dim` (length of x, or None when any
    length is accepted) and implement `predict`. They may override `gauss_newton_diagonal`
    with a closed form.
    """

    @property
    @abc.abstractmethod
    def num_params(self) -> int: ...

    @property
    def input_dim(self) -> int | None:
        return None

    @abc.abstractmethod
    def predict(self, theta: Array, x: Array) -> Array:
        """f(θ, x) for one sample x (a scalar)."""

    #: the prediction is linear in x, f(θ, x) = ⟨w(θ), x⟩ with w = `input_weights(θ)`, so the
    #: products of many parameter vectors with one design are matrix products
    #: (`SquaredLossProblem.labelled_gradients`)
    linear_in_input: ClassVar[bool] = False

    def input_weights(self, theta: Array) -> Array:
        """w(θ) with f(θ, x) = ⟨w(θ), x⟩, for models `linear_in_input`."""
        raise NotImplementedError(f"{type(self).__name__} is not linear in its input")

    def gauss_newton_diagonal(self, theta: Array, X: Array) -> Array:
        """diag(JᵀJ/n), equal to diag H on Γ. Autodiff route; closed forms override it."""
        J = jacobian(self, theta, X)
        return jnp.mean(J * J, axis=0)


def predictions(model: AbstractModel, theta: Array, X: Array) -> Array:
    """(f(θ, x_k))_k for the rows x_k of X."""
    return jax.vmap(model.predict, in_axes=(None, 0))(theta, X)


def jacobian(model: AbstractModel, theta: Array, X: Array) -> Array:
    """J = ∂f/∂θ, shape (n, D)."""
    return jax.vmap(jax.grad(model.predict), in_axes=(None, 0))(theta, X)


class FunctionModel(AbstractModel):
    """Any per-sample prediction given as a JAX function `fn(theta, x) -> scalar`."""

    fn: Callable[[Array, Array], Array] = eqx.field(static=True)
    dim: int = eqx.field(static=True)

    def __check_init__(self):
        if not callable(self.fn):
            raise TypeError("FunctionModel.fn must be callable as fn(theta, x) -> scalar")
        check_size("FunctionModel.dim", self.dim)

    @property
    def num_params(self) -> int:
        return self.dim

    def predict(self, theta, x):
        return self.fn(theta, x)


class AbstractProblem(eqx.Module):
    """A training loss L(θ) on flat parameters. Subclasses give `loss`; the rest is derived."""

    @property
    @abc.abstractmethod
    def num_params(self) -> int: ...

    @abc.abstractmethod
    def loss(self, theta: Array) -> Array: ...

    def grad(self, theta: Array) -> Array:
        return jax.grad(self.loss)(theta)

    def hessian(self, theta: Array) -> Array:
        """∇²L by autodiff (D×D; for small D)."""
        return jax.hessian(self.loss)(theta)

    def astype(self, dtype) -> AbstractProblem:
        """This problem in the dtype a run computes in: every floating-point array leaf cast to
        `dtype` (the discrete engine calls it once per run). A problem that keeps some data
        narrower than it computes with (`NarrowDesignProblem`) overrides it."""
        return cast_float_leaves(self, dtype)

    def check_params(self, theta: Array, name: str = "theta") -> None:
        """Raise a ValueError naming `name` unless θ has shape (..., num_params)."""
        shape = jnp.shape(theta)
        if len(shape) < 1 or shape[-1] != self.num_params:
            raise ValueError(
                f"{name} must have shape (..., {self.num_params}) for this problem, got {shape}"
            )


class LossProblem(AbstractProblem):
    """A general problem given as a plain JAX loss `loss_fn(theta) -> scalar`."""

    loss_fn: Callable[[Array], Array] = eqx.field(static=True)
    dim: int = eqx.field(static=True)

    def __check_init__(self):
        if not callable(self.loss_fn):
            raise TypeError("LossProblem.loss_fn must be callable as loss_fn(theta) -> scalar")
        check_size("LossProblem.dim", self.dim)

    @property
    def num_params(self) -> int:
        return self.dim

    def loss(self, theta):
        return self.loss_fn(theta)


class SquaredLossProblem(AbstractProblem):
    """L(θ) = (1/2n) Σ_k (f(θ, x_k) − y_k)² for a model f and data (X, y)."""

    model: AbstractModel
    X: Array
    y: Array

    def __check_init__(self):
        if not isinstance(self.model, AbstractModel):
            raise TypeError(f"model must be an AbstractModel, got {type(self.model).__name__}")
        if jnp.ndim(self.X) != 2:
            raise ValueError(f"X must be a matrix (n, input_dim), got shape {jnp.shape(self.X)}")
        n = jnp.shape(self.X)[0]
        if n < 1:
            raise ValueError("X must hold at least one sample (n >= 1)")
        if jnp.shape(self.y) != (n,):
            raise ValueError(f"y must have shape ({n},) to match X, got {jnp.shape(self.y)}")
        if self.model.input_dim is not None and jnp.shape(self.X)[1] != self.model.input_dim:
            raise ValueError(
                f"X must have {self.model.input_dim} columns for {type(self.model).__name__}, "
                f"got {jnp.shape(self.X)[1]}"
            )

    @property
    def num_params(self) -> int:
        return self.model.num_params

    @property
    def num_samples(self) -> int:
        return self.X.shape[0]

    def design(self, rows: Array | None = None) -> Array:
        """The design as the products use it: X (its rows `rows` when given). A subclass that
        stores X narrower than it computes upcasts here (`NarrowDesignProblem`)."""
        return self.X if rows is None else self.X[rows]

    def predictions(self, theta: Array) -> Array:
        return predictions(self.model, theta, self.design())

    def residuals(self, theta: Array) -> Array:
        """r = f(θ, X) − y."""
        return self.predictions(theta) - self.y

    def loss(self, theta):
        r = self.residuals(theta)
        return 0.5 * jnp.mean(r * r)

    def grad(self, theta):
        return self.labelled_gradient(theta, self.y)

    def labelled_gradient(self, theta: Array, labels: Array, rows: Array | None = None) -> Array:
        """∇_θ (1/2B) Σ_{k∈rows} (f(θ, x_k) − labels_k)² with B = len(rows) (all rows if None).

        `labels` has one entry per selected row. Computed as one VJP, Jᵀr/B.
        """
        X = self.design(rows)
        f, vjp = jax.vjp(lambda th: predictions(self.model, th, X), theta)
        (g,) = vjp((f - labels) / X.shape[0])
        return g

    def labelled_gradients(self, thetas: Array, labels: Array) -> Array:
        """`labelled_gradient` (all rows) of G parameter vectors with G label vectors at once,
        thetas (G, D), labels (G, n) → (G, D). For a model linear in x the products are two matrix
        products with the design, F = X·[w₁ … w_G] and [r₁ … r_G]ᵀX, so X is read once for all G
        (with X as the left operand of the first and the residuals (n, G) of the second: the
        orientations the CPU's kernels run fastest; the other way round is ≈ 2× slower than G
        separate products there); otherwise `labelled_gradient` vmapped. Equal to G calls of
        `labelled_gradient` up to the summation order of the products."""
        if not self.model.linear_in_input:
            return jax.vmap(self.labelled_gradient)(thetas, labels)
        X = self.design()
        W, vjp = jax.vjp(jax.vmap(self.model.input_weights), thetas)
        F = jax.lax.dot_general(X, W.astype(X.dtype), (((1,), (1,)), ((), ())))  # (n, G)
        R = (F - labels.T) / X.shape[0]
        (g,) = vjp(jax.lax.dot_general(R, X, (((0,), (0,)), ((), ()))).astype(W.dtype))  # (G, d) → (G, D)
        return g

    def per_sample_gradients(self, theta: Array) -> Array:
        """∇ℓ_k = r_k ∇f_k, shape (n, D)."""
        return self.residuals(theta)[:, None] * self.jacobian(theta)

    def jacobian(self, theta: Array) -> Array:
        return jacobian(self.model, theta, self.design())

    def gauss_newton_hessian(self, theta: Array) -> Array:
        """JᵀJ/n: the Hessian on Γ."""
        J = self.jacobian(theta)
        return J.T @ J / self.num_samples

    def gauss_newton_diagonal(self, theta: Array) -> Array:
        """diag(JᵀJ/n) (the model's closed form where it has one)."""
        return self.model.gauss_newton_diagonal(theta, self.design())

    def distance_to_manifold(self, theta: Array) -> Array:
        """‖J⁺r‖: length of the Gauss–Newton step back to Γ (first-order distance to Γ)."""
        J = self.jacobian(theta)
        step, *_ = jnp.linalg.lstsq(J, self.residuals(theta))
        return jnp.linalg.norm(step)


class NarrowDesignProblem(SquaredLossProblem):
    """A `SquaredLossProblem` whose design X is stored in a narrow float (`NARROW_DTYPES`:
    bfloat16, float16) and upcast to the labels' dtype at every use (`design`), so X·w and
    Xᵀr compute in the run's dtype while X takes 2 bytes an entry in memory (half of float32's
    traffic per step where the products are memory-bound). `astype` casts y, not X. The problem
    equals the `SquaredLossProblem` on the upcast X; that is the intended one only when every
    entry converts exactly (±1 designs), which the caller checks (`exactly_narrow`)."""

    def __check_init__(self):
        if str(jnp.result_type(self.X)) not in NARROW_DTYPES:
            raise ValueError(f"NarrowDesignProblem.X must be stored in one of {NARROW_DTYPES}, got {jnp.result_type(self.X)}")

    def design(self, rows: Array | None = None) -> Array:
        X = self.X if rows is None else self.X[rows]
        return X.astype(jnp.result_type(self.y))

    def astype(self, dtype) -> NarrowDesignProblem:
        return eqx.tree_at(lambda p: p.X, cast_float_leaves(self, dtype), self.X)


def exactly_narrow(X, dtype: str) -> tuple[bool, int, float]:
    """Whether every entry of X converts to `dtype` and back unchanged, with the number of entries
    that do not and the largest change (|Δ|): the condition for storing X narrow
    (`NarrowDesignProblem`) without changing the problem."""
    import numpy as np

    X = np.asarray(X)
    back = X.astype(jnp.dtype(dtype)).astype(X.dtype)  # numpy with ml_dtypes' bfloat16: no float64 mode needed
    changed = back != X
    return not changed.any(), int(changed.sum()), float(np.max(np.abs(back - X), initial=0.0))
