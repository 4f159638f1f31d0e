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
# # SGD against Adam on a valley of minima
#
# The noisy ellipse of Li–Wen–Lyu (2025, Figure 1): the loss
# $L(\theta)=\tfrac12\big(\tfrac{(\theta_0+\theta_1)^2}{2a^2}+\tfrac{(\theta_1-\theta_0)^2}{2b^2}-1-\delta\big)^2$
# with label noise $\delta=\pm\tfrac12$ has a whole ellipse $\Gamma$ of minimizers. Both optimizers
# reach $\Gamma$ at once; then, on the slow time scale $t=\eta^2k$, the noise makes them drift
# *along* $\Gamma$. Label-noise gradient descent follows the Slow ODE below and ends at the flattest
# point (smallest $\operatorname{tr}H$, on the long axis). Adam with $1-\beta_2=c_2\eta^2$ and no
# bias correction ends where $\nabla_\Gamma\operatorname{tr}\operatorname{Diag}(H)^{1/2}=0$: the
# point where $\nabla f$ is parallel to a coordinate axis, $\tan\varphi=b/a$.
#
# $$\text{SGD: }\frac{d\zeta}{dt}=-\frac c4\,P_\parallel\nabla\operatorname{tr}H(\zeta),\qquad
# \text{Adam: }\frac{d\zeta}{dt}=-\frac c4\,\partial\Phi_S\,S\,\nabla^3L[S],\ S=1/\sqrt v,\qquad c=\delta^2/n .$$
#
# The same demo runs from the command line: `ibl demo valley`.

# %%
from pathlib import Path

from IPython.display import Image, display

from implicit_bias_lab.experiments.demos import valley
from implicit_bias_lab.experiments.demos.common import save_still, small_from_env

SMALL = small_from_env()  # IBL_DEMO_SMALL=1 runs the small, fast version (the tests do)
OUT = Path("runs") / "notebooks" / "valley"
OUT.mkdir(parents=True, exist_ok=True)

# %% [markdown]
# ## Simulate
# Discrete label-noise GD and Adam from the same point of $\Gamma$ (several seeds), and both slow flows
# (the velocity fields of `sde.slow`, integrated in slow time). Change the settings with
# `valley.compute(settings=valley.ValleySettings(phi0=0.2, ...))`.

# %%
result = valley.compute(small=SMALL)
result.summary()

# %% [markdown]
# ## The still: paths, drift along $\Gamma$ against slow time, and the two regularizers

# %%
still = save_still(valley.plot_still(result), OUT / "valley.png")
display(Image(filename=str(still)))

# %% [markdown]
# ## The animation

# %%
gif = valley.save_animation(result, OUT / "valley.gif")
display(Image(filename=str(gif)))
