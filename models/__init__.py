"""Problems the theory talks about: parameters θ, per-sample predictions f(θ, x), data, Γ.

Importing the lab turns on JAX's float64 mode (the theory's Hessians, projections and
pseudo-inverses need it); the discrete engine still runs in float32 unless asked for float64.
"""

import jax

jax.config.update("jax_enable_x64", True)

from models.base import (  # noqa: E402
    AbstractModel,
    AbstractProblem,
    FunctionModel,
    LossProblem,
    SquaredLossProblem,
    predictions,
)
from models.deep_linear import DeepLinearNet, matrix_sensing_data  # noqa: E402
from models.diagonal_net import DiagonalNet  # noqa: E402
from models.quadratic import LinearModel, flat_quadratic  # noqa: E402
from models.registry import MODELS, make_model  # noqa: E402
from models.sharpness import (  # noqa: E402
    lambda_max,
    trace_diag_hessian_power,
    trace_hessian,
    trace_sqrt_diag_hessian,
)
from models.sparse_regression import SparseRegressionData, make_sparse_regression  # noqa: E402
from models.toys import NoisyEllipse, ProductToy  # noqa: E402

__all__ = [
    "AbstractModel",
    "AbstractProblem",
    "DeepLinearNet",
    "DiagonalNet",
    "FunctionModel",
    "LinearModel",
    "LossProblem",
    "MODELS",
    "NoisyEllipse",
    "ProductToy",
    "SparseRegressionData",
    "SquaredLossProblem",
    "flat_quadratic",
    "lambda_max",
    "make_model",
    "make_sparse_regression",
    "matrix_sensing_data",
    "predictions",
    "trace_diag_hessian_power",
    "trace_hessian",
    "trace_sqrt_diag_hessian",
]
