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
# # Label noise rescues gradient descent from the kernel regime
#
# Started at a large scale $u=v=\alpha\mathbf 1$, gradient descent on the diagonal net fits the data
# quickly but lands near the dense minimum-$\ell_2$ interpolant and stays there: its test loss
# $\tfrac12\|w-w^*\|^2$ never improves. With fresh label noise of size $\delta$ on every label at every
# step, the iterate drifts along the manifold $\Gamma=\{Xw=y\}$ on the slow time scale $t=\eta^2k$
# (Li, Wang, Arora 2022):
#
# $$\frac{d\zeta}{dt}=-\frac c4\,P_\parallel\nabla\operatorname{tr}H(\zeta),\qquad c=\frac{\delta^2}{n},\qquad
# \operatorname{tr}H=4\sum_i m_i(u_i^2+v_i^2),$$
#
# which shrinks the off-support weights like $e^{-2ct}$ and ends at the weighted-$\ell_1$ interpolant,
# the sparse truth. So the step budget is counted in units of $1/(2c\eta^2)$ steps.
# Command line: `ibl demo label-noise-rescue`.

# %%
from pathlib import Path

from IPython.display import Image, display

from implicit_bias_lab.experiments.demos import label_noise_rescue
from implicit_bias_lab.experiments.demos.common import save_still, small_from_env

SMALL = small_from_env()  # IBL_DEMO_SMALL=1 runs the small, fast version (the tests do)
OUT = Path("runs") / "notebooks" / "label-noise-rescue"

# %%
settings = label_noise_rescue.SMALL if SMALL else label_noise_rescue.FULL
steps, _ = label_noise_rescue.step_budget(settings)
print(f"c = delta^2/n = {label_noise_rescue.label_noise_constant(settings):.4f};  {steps} steps = slow time {steps * settings.eta**2:.1f}")

# %%
result = label_noise_rescue.compute(settings=settings)
result.summary()

# %%
still = save_still(label_noise_rescue.plot_still(result), OUT / "label-noise-rescue.png")
display(Image(filename=str(still)))
