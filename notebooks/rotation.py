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
# # $\operatorname{tr}H$ against $\operatorname{tr}\operatorname{Diag}(H)^{1/2}$: rotating one matrix
#
# Label-noise SGD implicitly minimizes $\operatorname{tr}H$, Adam minimizes
# $\operatorname{tr}\operatorname{Diag}(H)^{1/2}$ (Li–Wen–Lyu 2025, §5). The first depends only on the
# eigenvalues of $H$; the second reads only the diagonal, so it depends on how the eigenvectors sit
# relative to the coordinate axes. Rotate one PSD matrix,
# $H(\varphi)=R(\varphi)\operatorname{diag}(\lambda_1,\lambda_2)R(\varphi)^\top$: $\operatorname{tr}H$ and
# $\operatorname{tr}H^{1/2}$ stay constant while
#
# $$\operatorname{tr}\operatorname{Diag}(H(\varphi))^{1/2}=\sqrt{\lambda_1\cos^2\varphi+\lambda_2\sin^2\varphi}
# +\sqrt{\lambda_1\sin^2\varphi+\lambda_2\cos^2\varphi},$$
#
# smallest ($\sqrt{\lambda_1}+\sqrt{\lambda_2}$) when $H$ is axis-aligned and largest
# ($\sqrt{2(\lambda_1+\lambda_2)}$) at $45^\circ$. Command line: `ibl demo rotation`.

# %%
from pathlib import Path

from IPython.display import Image, display

from implicit_bias_lab.experiments.demos import rotation
from implicit_bias_lab.experiments.demos.common import save_still, small_from_env

SMALL = small_from_env()  # IBL_DEMO_SMALL=1 runs the small, fast version (the tests do)
OUT = Path("runs") / "notebooks" / "rotation"

# %%
result = rotation.compute(small=SMALL)
result.summary()

# %%
still = save_still(rotation.plot_still(result), OUT / "rotation.png")
display(Image(filename=str(still)))

# %% [markdown]
# Try an almost rank-one matrix: `rotation.compute(settings=rotation.RotationSettings(lam1=1.0, lam2=0.0))`.
# Then $H=gg^\top$ and $\operatorname{tr}\operatorname{Diag}(H)^{1/2}=\|g\|_1$: Adam's regularizer is an
# $\ell_1$ norm of the curvature direction.
