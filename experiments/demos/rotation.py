r"""tr H against tr Diag(H)^{1/2}: what a rotation of the parameter axes does to the two sharpness measures.

Label-noise SGD implicitly minimizes tr H, Adam minimizes tr Diag(H)^{1/2} (Li–Wen–Lyu 2025, §5).
The first depends only on the eigenvalues of H, so it is blind to the basis; the second reads
only the diagonal, so it depends on how the eigenvectors sit relative to the coordinate axes.
Take one PSD matrix with eigenvalues λ₁ ≥ λ₂ ≥ 0 and rotate it, H(φ) = R(φ) diag(λ₁, λ₂) R(φ)ᵀ.
Then tr H = λ₁ + λ₂ and tr H^{1/2} = √λ₁ + √λ₂ stay constant, while
tr Diag(H)^{1/2} = √(λ₁cos²φ + λ₂sin²φ) + √(λ₁sin²φ + λ₂cos²φ) grows from √λ₁ + √λ₂ at φ = 0
(axis-aligned: the smallest possible value, by concavity of √) to √(2(λ₁ + λ₂)) at φ = 45°. For a
rank-one H = ggᵀ it is ‖g‖₁: Adam prefers minima whose curvature is aligned with the axes.

    tr Diag(H(φ))^{1/2} = √(λ₁cos²φ + λ₂sin²φ) + √(λ₁sin²φ + λ₂cos²φ),   tr H(φ) = λ₁ + λ₂
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias_lab.experiments.demos.common import COLORS, new_figure, write_still_and_summary
from implicit_bias_lab.models.sharpness import lambda_max, trace_hessian, trace_sqrt_diag_hessian
from implicit_bias_lab.precision import enable_x64

DESCRIPTION = "tr H and tr H^1/2 are rotation invariant, tr Diag(H)^1/2 is not (one PSD matrix rotated)"
TITLE = r"Rotating one PSD matrix: tr $H$ and tr $H^{1/2}$ stay put, Adam's tr Diag$(H)^{1/2}$ does not"
EQUATION = (
    r"$H(\varphi)=R(\varphi)\,\mathrm{diag}(\lambda_1,\lambda_2)\,R(\varphi)^\top,\quad "
    r"\mathrm{tr}\,\mathrm{Diag}(H)^{1/2}=\sqrt{\lambda_1\cos^2\varphi+\lambda_2\sin^2\varphi}"
    r"+\sqrt{\lambda_1\sin^2\varphi+\lambda_2\cos^2\varphi}$"
)


@dataclass(frozen=True)
class RotationSettings:
    lam1: float = 1.0
    lam2: float = 0.1
    num_angles: int = 181  # angles in [0°, 180°]


FULL = RotationSettings()
SMALL = RotationSettings(num_angles=37)


def rotated_matrix(lam1: float, lam2: float, angle):
    """H(φ) = R(φ) diag(λ₁, λ₂) R(φ)ᵀ (φ in radians)."""
    c, s = jnp.cos(angle), jnp.sin(angle)
    R = jnp.array([[c, -s], [s, c]])
    return R @ jnp.diag(jnp.array([lam1, lam2])) @ R.T


def trace_sqrt(H):
    """tr H^{1/2} = Σ √λ_i (eigenvalues clipped at 0)."""
    return jnp.sum(jnp.sqrt(jnp.clip(jnp.linalg.eigvalsh(H), 0.0)))


def closed_form_trace_sqrt_diag(lam1: float, lam2: float, angle):
    c2, s2 = np.cos(angle) ** 2, np.sin(angle) ** 2
    return np.sqrt(lam1 * c2 + lam2 * s2) + np.sqrt(lam1 * s2 + lam2 * c2)


@dataclass
class RotationResult:
    settings: RotationSettings
    degrees: np.ndarray
    measures: dict  # name -> values along the angles

    def summary(self) -> dict:
        s = self.settings
        at45 = np.asarray(trace_sqrt_diag_hessian(rotated_matrix(s.lam1, s.lam2, np.pi / 4)))
        return {
            "trace_sqrt_diag_at_0": float(self.measures["tr Diag(H)^1/2"][0]),
            "trace_sqrt_diag_at_45": float(at45),
            "closed_form_at_45": float(np.sqrt(2 * (s.lam1 + s.lam2))),
            "trace_sqrt_h": float(np.sqrt(s.lam1) + np.sqrt(s.lam2)),
            "trace_h_spread": float(np.ptp(self.measures["tr H"])),
            "trace_sqrt_h_spread": float(np.ptp(self.measures["tr H^1/2"])),
            "max_error_vs_closed_form": float(np.max(np.abs(
                self.measures["tr Diag(H)^1/2"]
                - closed_form_trace_sqrt_diag(s.lam1, s.lam2, np.deg2rad(self.degrees))))),
        }


def compute(small: bool = False, settings: RotationSettings | None = None) -> RotationResult:
    enable_x64()  # the demo's flows and Hessian traces need float64
    settings = settings or (SMALL if small else FULL)
    degrees = np.linspace(0.0, 180.0, settings.num_angles)
    H = jax.vmap(lambda a: rotated_matrix(settings.lam1, settings.lam2, a))(jnp.deg2rad(jnp.asarray(degrees)))
    measures = {
        "tr H": jax.vmap(trace_hessian)(H),
        "tr H^1/2": jax.vmap(trace_sqrt)(H),
        "tr Diag(H)^1/2": jax.vmap(trace_sqrt_diag_hessian)(H),
        "λmax": jax.vmap(lambda_max)(H),
    }
    return RotationResult(settings, degrees, {k: np.asarray(v) for k, v in measures.items()})


def plot_still(result: RotationResult):
    s = result.settings
    fig, (ax_e, ax_m) = new_figure(10, 4.2, ncols=2, gridspec_kw={"width_ratios": [1, 1.6]})
    t = np.linspace(0, 2 * np.pi, 200)
    for deg, style in ((0, "-"), (25, "--"), (45, ":")):
        H = np.asarray(rotated_matrix(s.lam1, s.lam2, np.deg2rad(deg)))
        lam, V = np.linalg.eigh(H)
        # the curvature ellipse {x : xᵀHx = 1}, clipped for the flat direction
        radii = 1 / np.sqrt(np.maximum(lam, 1e-12))
        pts = V @ np.vstack([radii[0] * np.cos(t), radii[1] * np.sin(t)])
        d = np.diag(H)
        ax_e.plot(pts[0], pts[1], style, color="k", lw=1.5,
                  label=rf"$\varphi$={deg}°: Diag$H$=({d[0]:.2f}, {d[1]:.2f})")
    ax_e.set_aspect("equal")
    ax_e.set_xlabel(r"$x_1$")
    ax_e.set_ylabel(r"$x_2$")
    lim = 1.15 / np.sqrt(s.lam2) if s.lam2 > 0 else 4
    lim = min(lim, 4.0)
    ax_e.set_xlim(-lim, lim)
    ax_e.set_ylim(-lim, lim)
    ax_e.axhline(0, color="0.8", lw=0.8)
    ax_e.axvline(0, color="0.8", lw=0.8)
    ax_e.legend(fontsize=7, loc="upper left")
    ax_e.set_title(r"level sets $x^\top H(\varphi)x=1$ (same eigenvalues)", fontsize=9)

    styles = {"tr H": ("sgd", "-"), "tr H^1/2": ("gd", "--"), "tr Diag(H)^1/2": ("adam", "-"), "λmax": ("gd", ":")}
    labels = {"tr H": r"tr $H$ (SGD)", "tr H^1/2": r"tr $H^{1/2}$", "tr Diag(H)^1/2": r"tr Diag$(H)^{1/2}$ (Adam)",
              "λmax": r"$\lambda_{\max}$"}
    for name, values in result.measures.items():
        color, ls = styles[name]
        ax_m.plot(result.degrees, values, ls, color=COLORS[color], lw=2, label=labels[name])
    at45 = np.sqrt(2 * (s.lam1 + s.lam2))
    ax_m.plot([45], [at45], "o", mfc="none", mec="k", ms=10, gid="reference:45",
              label=rf"closed form $\sqrt{{2(\lambda_1+\lambda_2)}}$ = {at45:.3g} at 45°")
    ax_m.set_xlabel(r"rotation angle $\varphi$ (degrees)")
    ax_m.set_ylabel("value of the measure")
    ax_m.set_xticks([0, 45, 90, 135, 180])
    ax_m.set_title(rf"$\lambda_1={s.lam1:g},\ \lambda_2={s.lam2:g}$", fontsize=9)
    ax_m.set_ylim(0.55, 1.55)
    ax_m.legend(fontsize=7, loc="lower center", ncol=2)
    fig.suptitle(TITLE + "\n" + EQUATION, fontsize=10)
    return fig


def run(out_dir: Path, small: bool = False) -> list[Path]:
    enable_x64()  # the flows, projections and Hessian traces need float64
    result = compute(small)
    return write_still_and_summary(plot_still(result), result, out_dir, "rotation")