"""The README's pictures (`figures/gallery/`), each regenerated from the code by one command.

`GALLERY` maps a gallery file to what writes it: a demo (`ibl demo NAME`) or an experiment preset
(`ibl run NAME --preset P`) and the file of that run to copy. `ibl gallery [--only FILE ...]`
(`make gallery`) reruns them and copies the results in place; `tests/test_gallery.py` checks that
the folder holds exactly these files and that every demo, experiment and preset named here exists,
so a picture nothing can regenerate, or a stale name, is noticed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

GALLERY_DIR = Path(__file__).resolve().parent.parent / "figures" / "gallery"


class Entry(NamedTuple):
    kind: str  # "demo" or "run"
    name: str  # demo or experiment name
    preset: str | None  # experiment preset (runs only)
    produces: str  # file name (glob) in the demo's or run's output folder


GALLERY: dict[str, Entry] = {
    "valley.png": Entry("demo", "valley", None, "valley.png"),
    "rotation.png": Entry("demo", "rotation", None, "rotation.png"),
    "kernel-rich.png": Entry("demo", "kernel-rich", None, "kernel-rich.png"),
    "label-noise-rescue.png": Entry("demo", "label-noise-rescue", None, "label-noise-rescue.png"),
    "deep-linear-sharpness.png": Entry("demo", "deep-linear-sharpness", None, "deep-linear-sharpness.png"),
    "sparse_recovery_default.png": Entry("run", "sparse-recovery", "default", "sparse_recovery.png"),
    "paper_protocol_d1000.png": Entry("run", "sparse-recovery", "paper-protocol", "sparse_recovery.png"),
    "paper_protocol_showcase.png": Entry("run", "sparse-recovery", "paper-protocol-showcase", "sparse_recovery.png"),
    "adam_flow_agreement.png": Entry("run", "adam-flow-agreement", "default", "adam_flow_agreement.png"),
    "slow_sde_validation.png": Entry("run", "slow-sde-validation", "default", "slow_sde_validation.png"),
    "two_step_window_vs_width.png": Entry("run", "two-step", "paper-reduced", "window_vs_width.png"),
    "two_step_lines_2layer_h1000.png": Entry("run", "two-step", "paper-reduced", "lines_2layer_*.png"),
}


def regenerate(only: list[str] | None = None, gallery_dir: Path = GALLERY_DIR) -> list[Path]:
    """Rerun the entries (all, or the files in `only`) and copy their pictures into `gallery_dir`."""
    from implicit_bias_lab.experiments.config import build_config
    from implicit_bias_lab.experiments.demos import run_demo
    from implicit_bias_lab.experiments.registry import load_experiment

    names = list(GALLERY) if not only else only
    unknown = sorted(set(names) - set(GALLERY))
    if unknown:
        raise ValueError(f"gallery file must be one of {sorted(GALLERY)}, got {unknown}")
    written = []
    for file in names:
        entry = GALLERY[file]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            if entry.kind == "demo":
                run_demo(entry.name, out)
            else:
                mod = load_experiment(entry.name)
                mod.run(build_config(mod.Config, mod.PRESETS, entry.preset, None, []), out)
            found = sorted(out.rglob(entry.produces))
            if not found:
                raise RuntimeError(f"{entry.kind} {entry.name!r} wrote no file matching {entry.produces!r}")
            target = Path(gallery_dir) / file
            shutil.copyfile(found[0], target)
            written.append(target)
    return written
