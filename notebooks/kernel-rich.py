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
# # Kernel against rich regime on a diagonal net
#
# A diagonal linear network predicts $\langle w,x\rangle$ with $w=u\odot u-v\odot v$. With fewer samples
# than unknowns ($n<d$), $Xw=y$ has infinitely many solutions, and which one gradient descent returns
# is decided by the initialization $u=v=\alpha\mathbf 1$. Gradient flow returns the interpolant of
# smallest hypentropy potential (Woodworth et al., COLT 2020):
#
# $$w_{\rm GD}(\alpha)=\arg\min_{Xw=y}\sum_i\alpha^2q(w_i/\alpha^2),\qquad q(z)=2-\sqrt{4+z^2}+z\operatorname{arcsinh}(z/2),$$
#
# the minimum-$\ell_2$ interpolant as $\alpha\to\infty$ (kernel regime) and the minimum-$\ell_1$
# (basis pursuit) solution as $\alpha\to0$ (rich regime), which recovers a sparse truth. The change
# is logarithmically slow in $\alpha$. Command line: `ibl demo kernel-rich`.

# %%
from pathlib import Path

from IPython.display import Image, display

from implicit_bias_lab.experiments.demos import kernel_rich
from implicit_bias_lab.experiments.demos.common import save_still, small_from_env

SMALL = small_from_env()  # IBL_DEMO_SMALL=1 runs the small, fast version (the tests do)
OUT = Path("runs") / "notebooks" / "kernel-rich"

# %% [markdown]
# GD from each $\alpha$ (one run per $\alpha$, learning rate scaled to the curvature $8\alpha^2\lambda_{\max}$),
# the $\ell_1$ solution from `scipy.optimize.linprog`, the $\ell_2$ one from least squares.

# %%
result = kernel_rich.compute(small=SMALL)
summary = result.summary()
for a, d1, d2 in zip(summary["alphas"], summary["distance_to_l1"], summary["distance_to_l2"]):
    print(f"alpha = {a:<7g} |w - w_l1| = {d1:.4f}   |w - w_l2| = {d2:.4f}")

# %%
still = save_still(kernel_rich.plot_still(result), OUT / "kernel-rich.png")
display(Image(filename=str(still)))
