"""Problems the theory talks about: parameters θ, per-sample predictions f(θ, x), data, Γ.

Importing the lab leaves JAX's dtype settings alone: the theory's Hessians, projections and
pseudo-inverses need float64, so call implicit_bias_lab.enable_x64() first (the ibl CLI and the
experiments do); the discrete engine runs in float32 unless asked for float64.
"""

from implicit_bias_lab.models.base import (
    AbstractModel,
    AbstractProblem,
    FunctionModel,
    LossProblem,
    SquaredLossProblem,
    predictions,
)
from implicit_bias_lab.models.deep_linear import DeepLinearNet, matrix_sensing_data
from implicit_bias_lab.models.diagonal_net import DiagonalNet
from implicit_bias_lab.models.quadratic import LinearModel, flat_quadratic
from implicit_bias_lab.models.registry import MODELS, make_model
from implicit_bias_lab.models.sharpness import (
    lambda_max,
    trace_diag_hessian_power,
    trace_hessian,
    trace_sqrt_diag_hessian,
)
from implicit_bias_lab.models.sparse_regression import SparseRegressionData, make_sparse_regression
from implicit_bias_lab.models.toys import NoisyEllipse, ProductToy

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
