# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Sharpness on a deep linear network: SGD lowers $\operatorname{tr}H$, Adam lowers $\operatorname{tr}\operatorname{Diag}(H)^{1/2}$
#
# A two-layer linear network $P=W_2W_1$ is fitted to $n$ Gaussian measurements
# $y_k=\langle A_k,M^*\rangle$ of a rank-one $5\times5$ matrix (Li–Wen–Lyu 2025, §6). Plain GD first
# reaches a point of the manifold $\Gamma$ of interpolating factorizations; from there we continue
# with label noise using GD or Adam ($1-\beta_2=c_2\eta^2$, no bias correction). Both drift along
# $\Gamma$, towards different regularizers:
#
# $$\text{SGD: }\frac{d\zeta}{dt}=-\frac c4P_\parallel\nabla\operatorname{tr}H,\qquad
# \text{Adam: rest where }\nabla_\Gamma\operatorname{tr}\operatorname{Diag}(H)^{1/2}=0 .$$
#
# Sharpness and the test error $\|P-M^*\|_F^2$ are read at the projection of the iterate onto $\Gamma$.
# In this small instance both reach the rank-one truth; the paper reports that at scale Adam's test
# error ends worse, since $\operatorname{tr}H$, not $\operatorname{tr}\operatorname{Diag}(H)^{1/2}$,
# favours low rank. Command line: `ibl demo deep-linear-sharpness`.

# %%
from pathlib import Path

from IPython.display import Image, display

from implicit_bias_lab.experiments.demos import deep_linear_sharpness
from implicit_bias_lab.experiments.demos.common import save_still, small_from_env

SMALL = small_from_env()  # IBL_DEMO_SMALL=1 runs the small, fast version (the tests do)
OUT = Path("runs") / "notebooks" / "deep-linear-sharpness"

# %%
result = deep_linear_sharpness.compute(small=SMALL)
result.summary()

# %%
still = save_still(deep_linear_sharpness.plot_still(result), OUT / "deep-linear-sharpness.png")
display(Image(filename=str(still)))
