"""Optimizer families: one home per optimizer, one interface (`AbstractOptimizerFamily`).

Each family gives its discrete update (an optax `GradientTransformation`), the map 𝒱 and the
preconditioner S of its second moment, the fixed point and rate of that state, its label-noise slow
velocity (any loss, Hessian or Jacobian route), its regularizer where one exists, its penalty on the
diagonal net and its first-order SDE where the literature has one (docs/guide.md#optimizer-families).
"""

from implicit_bias_lab.sde.families.adam import Adam, DiagonalAdaptive, RMSprop
from implicit_bias_lab.sde.families.adam_mini import Adalayer, AdamMini, block_labels, layer_blocks, neuron_blocks
from implicit_bias_lab.sde.families.base import AbstractOptimizerFamily, TimeScale
from implicit_bias_lab.sde.families.registry import ALIASES, FAMILIES, NOISELESS, get_family
from implicit_bias_lab.sde.families.sgd import SGD
from implicit_bias_lab.sde.families.shampoo import Shampoo, matrix_shapes

__all__ = [
    "ALIASES",
    "FAMILIES",
    "NOISELESS",
    "AbstractOptimizerFamily",
    "Adalayer",
    "Adam",
    "AdamMini",
    "DiagonalAdaptive",
    "RMSprop",
    "SGD",
    "Shampoo",
    "TimeScale",
    "block_labels",
    "get_family",
    "layer_blocks",
    "matrix_shapes",
    "neuron_blocks",
]
