"""Classroom demos: every demo runs from the command line at small size, writes non-empty files and
shows the physics it claims; every notebook (notebooks/NAME.py, jupytext percent format) executes.

Notebook execution needs the test extras jupytext, nbclient, nbformat and ipykernel; the kernel is
the interpreter running the tests (a temporary kernelspec pointing at sys.executable), so it works
in a fresh virtual environment with the package installed editable.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import pytest

from implicit_bias_lab.experiments import cli
from implicit_bias_lab.experiments.demos import DEMOS
from implicit_bias_lab.experiments.demos.common import SMALL_ENV

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
EXPECTED = {"valley", "rotation", "kernel-rich", "label-noise-rescue", "deep-linear-sharpness"}


def run_cli(name: str, out: Path, capsys) -> tuple[list[Path], dict]:
    assert cli.main(["demo", name, "--small", "--out", str(out)]) == 0
    printed = [Path(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert printed, f"demo {name} printed no paths"
    for path in printed:
        assert path.is_file() and path.stat().st_size > 0, f"{path} missing or empty"
        assert path.parent == out
    summaries = [p for p in printed if p.name.endswith("_summary.json")]
    assert len(summaries) == 1
    return printed, json.loads(summaries[0].read_text())


def test_registry_lists_the_demos():
    assert EXPECTED <= set(DEMOS)
    for name in DEMOS:
        assert (NOTEBOOKS / f"{name}.py").is_file(), f"demo {name} has no notebook"


def test_unknown_demo_is_an_error(tmp_path, capsys):
    assert cli.main(["demo", "no-such-demo", "--small", "--out", str(tmp_path)]) == 2
    assert "demo must be one of" in capsys.readouterr().err


def test_rotation(tmp_path, capsys):
    paths, s = run_cli("rotation", tmp_path, capsys)
    assert any(p.suffix == ".png" for p in paths)
    lam1, lam2 = s["settings"]["lam1"], s["settings"]["lam2"]
    assert s["trace_sqrt_diag_at_45"] == pytest.approx(math.sqrt(2 * (lam1 + lam2)), abs=1e-12)
    assert s["trace_sqrt_diag_at_0"] == pytest.approx(math.sqrt(lam1) + math.sqrt(lam2), abs=1e-12)
    assert s["trace_h_spread"] < 1e-12 and s["trace_sqrt_h_spread"] < 1e-12
    assert s["max_error_vs_closed_form"] < 1e-12


def test_valley(tmp_path, capsys):
    paths, s = run_cli("valley", tmp_path, capsys)
    assert {p.suffix for p in paths} >= {".png", ".gif"}
    target = s["adam_target_angle"]  # tan φ = b/a
    assert target == pytest.approx(math.atan(0.5))
    # SGD ends at the flattest point φ = 0, Adam near tan φ = b/a: different minimizers
    assert abs(s["sgd_final_angle"]) < 0.05 and abs(s["sgd_flow_final_angle"]) < 0.05
    assert abs(s["adam_final_angle"] - target) < 0.08
    assert abs(s["adam_flow_final_angle"] - target) < 0.05
    assert s["adam_final_angle"] - s["sgd_final_angle"] > 0.3


def test_kernel_rich(tmp_path, capsys):
    _, s = run_cli("kernel-rich", tmp_path, capsys)
    to_l1, to_l2 = s["distance_to_l1"], s["distance_to_l2"]
    assert s["alphas"] == sorted(s["alphas"])
    assert s["l1_equals_truth"]  # basis pursuit recovers w* on this instance
    # small α: rich regime, close to ℓ1; large α: kernel regime, close to ℓ2
    assert to_l1[0] < 0.1 * to_l1[-1]
    assert to_l2[-1] < 0.1 * to_l2[0]
    assert to_l1[0] < 0.05 and to_l2[-1] < 0.05
    # GD matches the gradient-flow limit 2α² sinh(Xᵀν) (Woodworth et al.) up to the step size
    assert s["max_distance_to_flow_prediction"] < 0.05


def test_label_noise_rescue(tmp_path, capsys):
    _, s = run_cli("label-noise-rescue", tmp_path, capsys)
    gd = s["final_test_loss_gd"]
    assert gd == pytest.approx(s["test_loss_min_l2"], rel=0.2)  # GD stays in the kernel regime
    assert s["final_test_loss_label_noise"] < 0.5 * gd
    assert s["final_test_loss_label_noise_on_manifold"] < 0.1 * gd
    assert s["final_test_loss_slow_flow"] < 0.1 * gd


def test_deep_linear_sharpness(tmp_path, capsys):
    _, s = run_cli("deep-linear-sharpness", tmp_path, capsys)
    for name in ("sgd", "adam"):
        assert s[f"{name}_final_trace_hessian"] < 0.7 * s["start_trace_hessian"]
        assert s[f"{name}_final_test_error"] < 0.5 * s["start_test_error"]
    # each optimizer ends lower on its own regularizer
    assert s["adam_final_trace_sqrt_diag_hessian"] < s["sgd_final_trace_sqrt_diag_hessian"]
    assert s["sgd_final_trace_hessian"] < s["adam_final_trace_hessian"]


# ----------------------------------------------------------------------------- notebooks
@pytest.fixture(scope="module")
def notebook_kernel(tmp_path_factory):
    """One Jupyter kernel (the running interpreter, via a temporary kernelspec) shared by the notebook
    tests; IBL_DEMO_SMALL=1 in its environment. Each notebook starts with `%reset -f`, so a notebook
    cannot lean on names another one defined (modules stay imported, which saves the start-up)."""
    pytest.importorskip("ipykernel")
    jupyter_client = pytest.importorskip("jupyter_client")
    from jupyter_client.kernelspec import KernelSpecManager

    kernels = tmp_path_factory.mktemp("jupyter") / "kernels"
    (kernels / "ibl-test-python").mkdir(parents=True)
    (kernels / "ibl-test-python" / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "implicit-bias-lab tests",
        "language": "python",
    }))
    workdir = tmp_path_factory.mktemp("notebook-runs")
    env = dict(os.environ)
    env.update({SMALL_ENV: "1", "JAX_PLATFORMS": "cpu",
                "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)})
    km = jupyter_client.KernelManager(kernel_name="ibl-test-python",
                                      kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    km.start_kernel(env=env, cwd=str(workdir))
    try:
        yield km, workdir
    finally:
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_executes(name, notebook_kernel):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    km, workdir = notebook_kernel
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "$$" in first.source  # one paragraph and the equation
    nb.cells.insert(0, nbformat.v4.new_code_cell("%reset -f"))
    nbclient.NotebookClient(nb, km=km, timeout=300).execute()
    images = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
              if "image/png" in out.get("data", {}) or "image/gif" in out.get("data", {})]
    assert images, f"notebook {name} displayed no figure"
    written = list((workdir / "runs" / "notebooks" / name).iterdir())
    assert written and all(p.stat().st_size > 0 for p in written)
