"""The sparse-recovery experiment: dataset contents, resumability, corrupt chunks, bad configs,
and discrete-vs-slow agreement on a small instance grid."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from implicit_bias_lab.experiments.cli import main
from implicit_bias_lab.experiments.config import ConfigError, build_config
from implicit_bias_lab.experiments.recovery_results import as_records, load_results
from implicit_bias_lab.experiments.sparse_recovery import PRESETS, Config, agreement

TINY = ["d=24", "kappa=2", "n=[6,10]", "seeds=3", "init_scale=0.5", "lr_sgd=0.02", "label_noise=3.0",
        "lr_adam=0.02", "chunk_size=4", "block_size=2", "recovery_threshold=0.05", "sgd_efolds=4"]


def read_results(path: Path):
    """results.nc's per-run view (experiments/recovery_results.py: the grid, flattened)."""
    return as_records(load_results(path))


def run_cli(out: Path, extra=()):
    args = ["run", "sparse-recovery"]
    for kv in TINY + list(extra):
        args += ["--set", kv]
    assert main(args + ["--out", str(out)]) == 0
    return read_results(out / "results.nc")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sr")
    return out, run_cli(out)


def test_dataset_has_one_record_per_optimizer_method_n_seed(tiny_run):
    out, ds = tiny_run
    for field in ("optimizer", "method", "n", "seed", "test_loss", "recovered", "status", "w_error",
                  "trace_hessian", "trace_sqrt_diag_hessian", "steps"):
        assert field in ds
    keys = set(zip(ds.optimizer.values, ds.method.values, ds.n.values, ds.seed.values))
    assert len(keys) == ds.sizes["record"]
    expected = {("gd", "discrete"), ("sgd", "discrete"), ("adam", "discrete"), ("gd", "slow"), ("sgd", "slow"),
                ("adam", "slow"), ("sgd", "l1"), ("adam", "lhalf")}
    assert {(str(o), str(m)) for o, m, *_ in keys} == expected
    assert ds.sizes["record"] == len(expected) * 2 * 3
    # numbers are consistent with their definitions: ‖w − w*‖ and ½‖w − w*‖²
    np.testing.assert_allclose(ds.test_loss, 0.5 * ds.w_error**2, rtol=1e-10)
    for name in ("sparse_recovery.png", "sparse_recovery.pdf", "manifest.json"):
        assert (out / name).stat().st_size > 0
    # label-noise SGD's step budget comes from the slow time scale: efolds/(2cη²) at n_max
    sgd_steps = int(ds.steps.values[(ds.optimizer.values == "sgd") & (ds.method.values == "discrete")][0])
    assert sgd_steps == int(np.ceil(4 / (2 * 9.0 / 10) / 0.02**2))


def test_results_file_is_a_labelled_grid_that_xarray_selects_from(tiny_run):
    """results.nc (format 2, experiments/recovery_results.py) opened with plain xarray: real
    coordinates, selection by label, CF attributes, and the same numbers as the per-run view."""
    out, flat = tiny_run
    ds = xr.open_dataset(out / "results.nc", engine="scipy").load()
    assert ds.attrs["results_format"] == 2 and ds.attrs["Conventions"].startswith("CF-")
    assert dict(ds.sizes) == {"optimizer": 3, "route": 4, "n": 2, "seed": 3}
    assert list(ds.optimizer.values) == ["gd", "sgd", "adam"] and list(ds.route.values) == ["discrete", "slow", "l1", "lhalf"]
    at = ds.sel(optimizer="adam", n=10)
    assert at.test_loss.dims == ("route", "seed")
    for name in ("test_loss", "n", "route", "recovered"):
        assert ds[name].attrs["long_name"]
    assert ds.test_loss.attrs["units"] == "1"
    # each cell is the run with those labels; pairs that were not run are NaN and "absent"
    for o, m, n, s, loss in zip(flat.optimizer.values, flat.method.values, flat.n.values, flat.seed.values, flat.test_loss.values):
        assert ds.test_loss.sel(optimizer=o, route=m, n=n, seed=s).item() == loss
    assert np.isnan(ds.test_loss.sel(optimizer="gd", route="l1")).all()
    assert set(ds.status.sel(optimizer="gd", route="l1").values.ravel()) == {"absent"}
    assert int(ds.recovered.notnull().sum()) == flat.sizes["record"] == 8 * 2 * 3
    rate = ds.recovered.sel(optimizer="adam", route="discrete").mean("seed")
    np.testing.assert_allclose(rate.values, [flat.recovered.values[(flat.optimizer.values == "adam") & (flat.method.values == "discrete") & (flat.n.values == n)].mean() for n in (6, 10)])


def test_old_flat_results_are_read_and_newer_formats_rejected(tiny_run, tmp_path):
    from implicit_bias_lab.experiments.io import write_netcdf
    from implicit_bias_lab.experiments.recovery_results import ResultsFormatError, grid_from_records

    out, flat = tiny_run
    grid = load_results(out / "results.nc")
    old = flat.copy()
    old.attrs = {k: v for k, v in flat.attrs.items() if k not in ("results_format", "Conventions")}
    write_netcdf(tmp_path / "format1.nc", old)  # the flat table older versions wrote
    xr.testing.assert_identical(load_results(tmp_path / "format1.nc"), grid)
    xr.testing.assert_identical(grid_from_records(as_records(grid)), grid)  # the two views round-trip
    newer = grid.copy()
    newer.attrs["results_format"] = 99
    write_netcdf(tmp_path / "format99.nc", newer)
    with pytest.raises(ResultsFormatError, match="format 99 was written by a newer"):
        load_results(tmp_path / "format99.nc")
    (tmp_path / "garbage.nc").write_bytes(b"not netcdf")
    with pytest.raises(ResultsFormatError, match="garbage.nc: not a readable results file"):
        load_results(tmp_path / "garbage.nc")


def test_gd_is_not_moved_by_the_slow_method_and_reference_solutions_interpolate(tiny_run):
    _, ds = tiny_run
    sel = lambda o, m: (ds.optimizer.values == o) & (ds.method.values == m)  # noqa: E731
    # GD from the same init: discrete (float32) and its float64 landing point agree
    np.testing.assert_allclose(ds.test_loss.values[sel("gd", "discrete")], ds.test_loss.values[sel("gd", "slow")], rtol=1e-3)
    assert np.all(ds.train_loss.values[sel("sgd", "l1")] < 1e-20)
    assert np.all(ds.train_loss.values[sel("adam", "lhalf")] < 1e-20)


def test_rerun_skips_finished_chunks_and_repairs_corrupt_ones(tiny_run, tmp_path, capfd):
    out, ds = tiny_run
    chunks = sorted((out / "chunks").glob("*/*.npz"))
    assert chunks
    victim = [c for c in chunks if c.name.startswith("slow-")][0]  # a result chunk (a landing is read only when needed)
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])  # truncated file
    capfd.readouterr()
    again = run_cli(out)
    xr.testing.assert_identical(again, ds)
    reports = [line for line in capfd.readouterr().err.splitlines() if line.startswith("recomputing chunk")]
    assert len(reports) == 1 and victim.name in reports[0]  # one line: which chunk and why


def test_killed_sweep_loses_nothing_and_gives_the_same_dataset(tiny_run, tmp_path):
    _, reference = tiny_run
    out = tmp_path / "killed"
    cmd = [sys.executable, "-c", "import sys; from implicit_bias_lab.experiments.cli import main; sys.exit(main(sys.argv[1:]))",
           "run", "sparse-recovery", "--out", str(out)]
    for kv in TINY:
        cmd += ["--set", kv]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parent.parent)
    deadline = time.time() + 300
    while time.time() < deadline and len(list((out / "chunks").glob("*/*.npz"))) < 2 and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    survivors = {p: p.read_bytes() for p in (out / "chunks").glob("*/*.npz")}
    again = run_cli(out)
    xr.testing.assert_identical(again, reference)
    assert survivors  # something had been finished before the kill
    # the manifest's compute time covers both parts: the survivors were reused as they were (their
    # times are the killed run's) and the total is the sum over every chunk file
    assert all(p.read_bytes() == b for p, b in survivors.items())
    files = list((out / "chunks").glob("*/*.npz"))
    times = [float(np.load(p)["compute_s"]) for p in files]
    cost = json.loads((out / "manifest.json").read_text())["chunk_compute_s"]
    assert cost["chunks"] == len(files) and cost["chunks_without_time"] == 0
    assert min(times) > 0 and cost["total_s"] == pytest.approx(sum(times), abs=1e-3 * len(files))
    assert cost["total_s"] == pytest.approx(sum(cost["by_stage"].values()), abs=1e-3 * len(cost["by_stage"]))
    assert set(cost["by_stage"]) == {"landing", "gd/discrete", "sgd/discrete", "adam/discrete", "gd/slow", "sgd/slow", "adam/slow",
                                     "sgd/l1", "adam/lhalf"}


def test_other_settings_never_reuse_stale_chunks(tiny_run, tmp_path):
    out, ds = tiny_run
    extra = ["optimizers=gd", "methods=discrete", "lr_sgd=0.01"]
    # the CLI refuses a run directory made with other settings (naming --out) ...
    args = ["run", "sparse-recovery"] + [a for kv in TINY + extra for a in ("--set", kv)]
    assert main(args + ["--out", str(out)]) == 2
    # ... and the experiment itself keys its chunks by the settings
    from implicit_bias_lab.experiments import sparse_recovery

    sparse_recovery.run(build_config(Config, PRESETS, "default", None, TINY + extra), out)
    changed = read_results(out / "results.nc")
    assert len(list((out / "chunks").iterdir())) >= 2  # a separate chunk folder per settings
    old = ds.test_loss.values[(ds.optimizer.values == "gd") & (ds.method.values == "discrete")]
    assert not np.array_equal(changed.test_loss.values, old)


def test_agreement_of_discrete_and_slow_decisions(tiny_run):
    _, ds = tiny_run
    for opt in ("gd", "sgd", "adam"):
        share, count = agreement(ds, opt)
        print(f"discrete/slow agreement for {opt}: {share:.2f} over {count} instances")
        assert count == 6
    assert agreement(ds, "gd")[0] == 1.0
    assert agreement(ds, "sgd")[0] >= 5 / 6


@pytest.mark.parametrize(
    "override,key",
    [
        ("kappa=500", "kappa"),
        ("design=bernoulli", "design"),
        ("magnitudes=big", "magnitudes"),
        ("optimizers=sgd,lion", "optimizers"),
        ("methods=magic", "methods"),
        ("lr_sgd=-1", "lr_sgd"),
        ("b1=1.5", "b1"),
        ("seeds=0", "seeds"),
        ("n=[0,10]", "'n'"),
        ("lr_adam=1", "adam_c2"),
        ("lr_adam=nan", "lr_adam"),
        ("label_noise=inf", "label_noise"),
        ("dead_floor=2", "dead_floor"),
        ("adam_flow_segment_steps=-1", "adam_flow_segment_steps"),
        ("average_last=500", "average_last"),
        ("colour=red", "colour"),
        ("d=ten", "'d'"),
        ("start=middle", "start"),
        ("init=uniform", "init"),
        ("design_dtype=float8", "design_dtype"),
        ("share_design=true", "share_design"),  # the default preset's SGD and Adam budgets differ
    ],
)
def test_bad_config_names_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        build_config(Config, PRESETS, "default", None, [override])


def test_bad_preset_and_file(tmp_path):
    with pytest.raises(ConfigError, match="preset"):
        build_config(Config, PRESETS, "huge")
    bad = tmp_path / "bad.toml"
    bad.write_text("d = [1, 2\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        build_config(Config, PRESETS, "default", bad)
    good = tmp_path / "good.toml"
    good.write_text('d = 50\nkappa = 3\noptimizers = ["sgd"]\n')
    cfg = build_config(Config, PRESETS, "default", good, ["seeds=2"])
    assert (cfg.d, cfg.kappa, cfg.optimizers, cfg.seeds) == (50, 3, ("sgd",), 2)
    assert main(["run", "sparse-recovery", "--set", "kappa=0", "--out", str(tmp_path / "x")]) == 2


def test_results_do_not_depend_on_devices_or_chunk_size(tiny_run, tmp_path):
    """The same sweep on two (fake) CPU devices and with another chunk size: the same dataset, bitwise."""
    _, reference = tiny_run
    out = tmp_path / "two-devices"
    cmd = [sys.executable, "-c", "import sys; from implicit_bias_lab.experiments.cli import main; sys.exit(main(sys.argv[1:]))",
           "run", "sparse-recovery", "--out", str(out), "--devices", "2"]
    for kv in TINY + ["chunk_size=3"]:
        cmd += ["--set", kv]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=Path(__file__).parent.parent, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "local (2 × cpu)" in proc.stderr  # the progress header names the devices used
    again = read_results(out / "results.nc")
    xr.testing.assert_identical(again, reference)


def test_bad_executor_options_name_the_option(tmp_path):
    from implicit_bias_lab.experiments.executors import make_executor

    with pytest.raises(ValueError, match="devices"):
        make_executor("local", devices=0)
    with pytest.raises(ValueError, match="executor"):
        make_executor("dask")
    with pytest.raises(ValueError, match="address"):
        make_executor("local", address="10.0.0.1:6379")
    # an experiment that runs in one process only refuses the options instead of ignoring them
    assert main(["run", "two-step", "--executor", "ray", "--out", str(tmp_path / "x")]) == 2


def test_ray_executor_gives_the_same_dataset_and_retries_failed_tasks(tiny_run, tmp_path):
    """Against a local Ray runtime on the CPU: the sweep's dataset is bitwise the local one, and a
    task that fails on its first attempt is retried."""
    pytest.importorskip("ray")
    from implicit_bias_lab.experiments.executors import RayExecutor
    from implicit_bias_lab.experiments.sparse_recovery import run

    _, reference = tiny_run
    config = build_config(Config, PRESETS, "default", None, TINY)
    executor = RayExecutor(num_cpus=2, retries=1)
    try:
        run(config, tmp_path / "ray", executor=executor)
        again = read_results(tmp_path / "ray" / "results.nc")
        xr.testing.assert_identical(again, reference)

        marker = tmp_path / "attempts"
        marker.mkdir()

        def flaky(i):  # fails the first time each item is tried (pickled by value for the workers)
            flag = marker / str(i)
            if not flag.exists():
                flag.write_text("tried")
                raise RuntimeError("transient failure")
            return i * i

        assert sorted(executor.map_unordered(flaky, [(i,) for i in range(3)])) == [(0, 0), (1, 1), (2, 4)]
    finally:
        executor.shutdown()


def test_slow_records_from_a_start_off_the_manifold_are_flagged():
    """The slow flows assume a start on Γ: a GD landing point that has not fit the data (here the
    initialization itself) gets status not_converged instead of a silent number."""
    from implicit_bias_lab.experiments import sparse_recovery as sr

    config = build_config(Config, PRESETS, "default", None, TINY)
    chunk = sr.instances(config)[:2]
    start = np.full((2, 2 * config.d), config.init_scale)
    out = sr.slow_chunk(config, "gd", chunk, start)
    assert list(out["status"]) == [3, 3]
    assert Config().steps("gd") == Config().steps("sgd")  # gd_steps = 0: SGD's budget
    assert Config(gd_steps=123).steps("gd") == 123 and config.steps("gd") == PRESETS["default"]["gd_steps"]


def test_hyperparameter_sweep_records_equal_plain_runs(tiny_run, tmp_path):
    """`sweep_key`/`sweep_values`: one dataset with a column for the swept value, whose records are
    bitwise those of a plain run at that value."""
    _, reference = tiny_run
    ds = run_cli(tmp_path / "sweep", ["optimizers=adam", "methods=discrete", "sweep_key=lr_adam", "sweep_values=[0.02,0.04]"])
    assert ds.attrs["sweep_key"] == "lr_adam" and sorted(set(ds.lr_adam.values)) == [0.02, 0.04]
    mine = ds.isel(record=np.flatnonzero(ds.lr_adam.values == 0.02))
    theirs = reference.isel(record=np.flatnonzero((reference.optimizer.values == "adam") & (reference.method.values == "discrete")))
    for field in ("n", "seed", "test_loss", "trace_hessian", "steps", "status"):
        np.testing.assert_array_equal(mine[field].values, theirs[field].values)
    faster = ds.isel(record=np.flatnonzero(ds.lr_adam.values == 0.04))
    assert int(faster.steps.values[0]) * 4 == pytest.approx(int(mine.steps.values[0]), abs=4)  # budget ∝ 1/η²
    with pytest.raises(ConfigError, match="lr_adam"):
        build_config(Config, PRESETS, "default", None, ["sweep_key=lr_adam", "sweep_values=[0.01,-1]"])
    with pytest.raises(ConfigError, match="sweep_key"):
        build_config(Config, PRESETS, "default", None, ["sweep_key=colour", "sweep_values=[1]"])
    with pytest.raises(ConfigError, match="sweep_values"):
        build_config(Config, PRESETS, "default", None, ["sweep_key=b1"])


def test_a_sweep_of_some_optimizers_runs_the_others_once(tiny_run, tmp_path):
    """`sweep_optimizers`: the named optimizers run at every swept value, the others once at the
    base value (a point of its own when not swept), bitwise as in a plain run; the grid holds NaN
    where an optimizer did not run, and the cost estimate counts only what runs."""
    from implicit_bias_lab.experiments import sparse_recovery as sr

    _, reference = tiny_run
    extra = ["optimizers=[\"sgd\",\"adam\"]", "methods=discrete", "sweep_key=label_noise", "sweep_values=[2.0,4.0]"]
    config = build_config(Config, PRESETS, "default", None, TINY + extra + ["sweep_optimizers=sgd"])
    assert [v for v, _ in sr.variants(config)] == [2.0, 4.0, 3.0]  # the base δ = 3 is added for Adam
    assert sr.work_items(config) == [(0, "sgd", "discrete"), (1, "sgd", "discrete"), (2, "adam", "discrete")]
    every = build_config(Config, PRESETS, "default", None, TINY + extra)
    steps = lambda c: sum(c.steps(opt) for _, opt, _ in sr.work_items(c))  # noqa: E731
    assert steps(config) == 2 * config.steps("sgd") + config.steps("adam") < steps(every)
    assert sr.describe_cost(config)[0].count("3 (optimizer, method) tasks") == 1
    ds = run_cli(tmp_path / "some", extra + ["sweep_optimizers=sgd"])
    grid = load_results(tmp_path / "some" / "results.nc")
    assert list(grid.label_noise.values) == [2.0, 3.0, 4.0]
    assert np.isnan(grid.test_loss.sel(optimizer="adam", label_noise=[2.0, 4.0])).all()
    assert np.isnan(grid.test_loss.sel(optimizer="sgd", label_noise=3.0)).all()
    adam = ds.isel(record=np.flatnonzero(ds.optimizer.values == "adam"))
    theirs = reference.isel(record=np.flatnonzero((reference.optimizer.values == "adam") & (reference.method.values == "discrete")))
    assert set(adam.label_noise.values) == {3.0}
    np.testing.assert_array_equal(adam.test_loss.values, theirs.test_loss.values)
    with pytest.raises(ConfigError, match="sweep_optimizers"):
        build_config(Config, PRESETS, "default", None, ["sweep_optimizers=sgd"])
    with pytest.raises(ConfigError, match="sweep_optimizers"):
        build_config(Config, PRESETS, "default", None, TINY + extra + ["sweep_optimizers=gd"])


def test_local_executor_spreads_items_over_devices():
    """Each worker thread computes on its own device (2 fake CPU devices)."""
    code = (
        "import jax, jax.numpy as jnp, time\n"
        "from implicit_bias_lab.experiments.executors import LocalExecutor\n"
        "def f(i):\n"
        "    y = jax.jit(lambda a: a + 1)(jnp.ones(3) * i)\n"
        "    time.sleep(0.2)\n"
        "    return str(list(y.devices())[0])\n"
        "print(sorted({d for _, d in LocalExecutor(2).map_unordered(f, [(i,) for i in range(4)])}))\n"
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "['cpu:0', 'cpu:1']"


def test_paper_protocol_budget_and_averaged_recovery_measure(tmp_path):
    """fixed_steps gives every optimizer one budget; average_last = 1 (the final logged iterate) gives
    the final test loss, and averaging over more iterates gives another number; the dataset says
    which protocol and measure it used."""
    from implicit_bias_lab.experiments import sparse_recovery

    base = ["d=16", "kappa=2", "n=[8]", "seeds=2", "optimizers=[\"sgd\",\"adam\"]", "methods=[\"discrete\"]", "start=init",
            "init=gaussian", "init_scale=0.1", "lr_adam=0.05", "lr_sgd=0.05", "fixed_steps=400", "log_points=20", "chunk_size=2", "block_size=2"]
    runs = {}
    for k in (0, 1, 10):
        out = tmp_path / f"avg{k}"
        sparse_recovery.run(build_config(Config, PRESETS, "default", None, base + [f"average_last={k}"]), out)
        runs[k] = read_results(out / "results.nc")
    assert set(runs[0].steps.values) == {400}
    np.testing.assert_allclose(runs[1].test_loss.values, runs[0].test_loss.values, rtol=1e-6)
    assert not np.allclose(runs[10].test_loss.values, runs[0].test_loss.values, rtol=1e-3)
    assert "fixed 400 steps" in runs[0].attrs["protocol"]
    assert "last 10 of 20" in runs[10].attrs["recovery_measure"]
    assert Config(**PRESETS["paper-protocol"]).steps("sgd") == Config(**PRESETS["paper-protocol"]).steps("adam") == 20_000


def test_compact_and_vmapped_slow_routes_agree(monkeypatch):
    """The per-instance compact routes (`route="compact"`, what "auto" picks at d ≥ 2000) give the
    vmapped sweep routes' end points to ~1e-6 and the same statuses and recovery decisions, for the
    SGD flow, the v-state Adam flow and the quasi-static one, at d = 300 (a short chunk, padded as
    `compute_chunk` pads it: the repeated instance is computed once)."""
    from implicit_bias_lab.experiments import sparse_recovery as sr

    config = build_config(Config, PRESETS, "default", None, ["d=300", "kappa=5", "n=[20,40]", "seeds=2", "chunk_size=4"])
    chunk = sr.instances(config)[1:]
    full = chunk + chunk[-1:]
    start = sr.gd_landing(config, full)
    for optimizer, quasi_static in (("sgd", False), ("adam", False), ("adam", True)):
        ends = {route: sr.slow_end_points(config, optimizer, full, start, quasi_static, route=route) for route in ("vmapped", "compact")}
        (th_v, st_v, data), (th_c, st_c, _) = ends["vmapped"], ends["compact"]
        assert list(st_c) == list(st_v) and set(st_v) <= {0, 3}, (optimizer, quasi_static, st_v, st_c)
        np.testing.assert_allclose(th_c, th_v, atol=1e-6 * float(np.max(np.abs(th_v))), rtol=0)
        np.testing.assert_array_equal(th_c[-1], th_c[-2])
        assert decisions(config, th_c, data) == decisions(config, th_v, data)
    assert sr.slow_end_points(config, "sgd", chunk[:1], start[:1], route="auto")[1].shape == (1,)
    # the v-state flow's step budget per segment attempt reaches both routes: with one step the
    # vmapped route stops "stiff" (status 5), θ finite where it was last good; the compact route counts
    # its budget in chunks of 16 steps, which this instance's segments never exceed, so it is spied on
    tight = dataclasses.replace(config, adam_flow_segment_steps=1)
    th, st, _ = sr.slow_end_points(tight, "adam", chunk[:1], start[:1], route="vmapped")
    assert list(st) == [5] and np.all(np.isfinite(th)), st
    from implicit_bias_lab.sde import slow_diagonal_state as sds

    seen = []
    compact_flow = sds.integrate_adam_state_flow_compact
    monkeypatch.setattr(sds, "integrate_adam_state_flow_compact", lambda *a, **k: seen.append(k["max_steps_per_segment"]) or compact_flow(*a, **k))
    sr.slow_end_points(dataclasses.replace(config, adam_flow_segment_steps=7), "adam", chunk[:1], start[:1], route="compact")
    assert seen == [7]
    # 0 (the default): 256 on the compact route, which splits; 1 024 on the vmapped one, which cannot
    assert config.adam_flow_segment_steps == 0
    sr.slow_end_points(config, "adam", chunk[:1], start[:1], route="compact")
    assert seen == [7, 256]
    vmapped_flow = sds.integrate_adam_state_flow
    monkeypatch.setattr(sds, "integrate_adam_state_flow", lambda *a, **k: seen.append(k["max_steps_per_segment"]) or vmapped_flow(*a, **k))
    sr.slow_end_points(config, "adam", chunk[:1], start[:1], route="vmapped")
    assert seen[2:] and set(seen[2:]) == {1024}
    with pytest.raises(ValueError, match="route"):
        sr.slow_flow_final(config, "sgd", None, None, [20], None, route="fast")


def decisions(config, thetas, data) -> list[bool]:
    """Recovered or not (test loss ½‖w − w*‖² below the threshold) per end point."""
    w = thetas[:, : config.d] ** 2 - thetas[:, config.d :] ** 2
    return [float(np.sum((wi - np.asarray(d.w_star)) ** 2)) / 2 < config.recovery_threshold for wi, d in zip(w, data)]


def test_block_families_run_like_any_optimizer():
    """`optimizers=["adam_mini", "adalayer"]` (sde.families) in the sweep: the discrete run starts
    from the block fixed point v₀ = 𝒱(c·diag H(θ₀)) — Adam's v₀ averaged over {u_i, v_i} for
    Adam-mini, over all u and all v for Adalayer — and the slow method (the general flow, one
    instance at a time) ends on Γ with a named status."""
    import jax.numpy as jnp

    from implicit_bias_lab.experiments import sparse_recovery as sr

    config = Config(d=12, kappa=2, n=(6,), seeds=1, optimizers=("adam", "adam_mini", "adalayer"), methods=("discrete", "slow"),
                    init_scale=0.5, label_noise=1.0, lr_adam=0.02, adam_slow_time=1.0, gd_steps=2000)
    chunk = sr.instances(config)
    landing = sr.gd_landing(config, chunk)
    states = {}
    for opt in config.optimizers:
        data = [sr.instance_data(config, inst) for inst in chunk]
        theta0 = jnp.asarray(landing)
        family = config.family(opt)
        m = jnp.mean(data[0].X ** 2, axis=0)
        h = 4 * config.noise_constant(6) * jnp.concatenate([m, m]) * theta0[0] ** 2
        states[opt] = np.asarray(family.fixed_point_from_diagonal(h))
    d = config.d
    pair_mean = 0.5 * (states["adam"][:d] + states["adam"][d:])
    np.testing.assert_allclose(states["adam_mini"], np.concatenate([pair_mean, pair_mean]), rtol=1e-12)
    np.testing.assert_allclose(states["adalayer"][:d], np.full(d, states["adam"][:d].mean()), rtol=1e-12)
    np.testing.assert_allclose(states["adalayer"][d:], np.full(d, states["adam"][d:].mean()), rtol=1e-12)
    for opt in ("adam_mini", "adalayer"):
        out = sr.compute_chunk(config, opt, "slow", chunk, lambda: landing)
        assert sr.STATUS_NAMES[int(out["status"][0])] in ("ok", "stiff")
        if int(out["status"][0]) == 0:
            assert float(out["train_loss"][0]) < 1e-12
        disc = sr.compute_chunk(config, opt, "discrete", chunk, lambda: landing)
        assert np.isfinite(disc["test_loss"]).all()
    # a general flow that runs out of solver steps is flagged "stiff" and held where it was last good
    end = config.family("adalayer").diagonal_net_flow(data[0].X, data[0].y, landing[0], 1.0, noise_scale=config.noise_constant(6),
                                                      c2=5.0, max_steps=1)
    assert sr.STATUS_NAMES[end.status] == "stiff" and np.all(np.isfinite(np.asarray(end.theta)))


def test_per_instance_landings_equal_the_padded_ones(monkeypatch):
    """From d = PER_INSTANCE_D on, the GD landings run per instance on the true rows: the same GD as
    the padded chunk up to rounding (the padding's gradient scaling is undone by η·n_max/n)."""
    from implicit_bias_lab.experiments import sparse_recovery as sr

    config = Config(d=sr.PER_INSTANCE_D, kappa=3, n=(6, 10), seeds=1, optimizers=("sgd",), methods=("slow",), init_scale=1.0,
                    lr_sgd=0.0003, gd_steps=300)  # below GD's stability limit 2n/(8(√d+√n)²) ≈ 7e-4 at n = 6
    chunk = sr.instances(config) + sr.instances(config)[:1]  # a repeated instance, as a padded last chunk has
    per_instance = sr.gd_landing(config, chunk)
    monkeypatch.setattr(sr, "PER_INSTANCE_D", 10**9)
    padded = sr.gd_landing(config, chunk)
    assert per_instance.shape == padded.shape == (3, 2 * config.d)
    np.testing.assert_allclose(per_instance, padded, rtol=1e-10, atol=1e-12)
    assert float(np.max(np.abs(per_instance - 1.0))) > 1e-4  # GD moved (equal end points are not both the start)


def test_cost_model_gates_the_paper_preset_and_not_the_default():
    """The estimate printed before a sweep (`describe_cost`, calibrated on this CPU: docs/results.md
    measured the default sweep at ≈ 45 s and a d = 10⁴ slice of the paper preset at 1 426 s, 460 s of
    it GD landings padded to blocks of 8 that now take an eighth of that, so ≈ 960 s today): the
    `paper` preset (72 instances at d = 10⁴) must exceed the 1 h gate that asks for --yes — it read
    6.4 min before its flows and landings were costed per instance — and the default preset must
    stay far below it; the slice's estimate must stay within 2× of its measured cost."""
    from implicit_bias_lab.experiments import sparse_recovery as sr

    _, paper = sr.describe_cost(Config(**PRESETS["paper"]))
    _, default = sr.describe_cost(Config(**PRESETS["default"]))
    _, slice_ = sr.describe_cost(Config(**{**PRESETS["paper"], "n": (300, 500), "seeds": 4, "methods": ("slow", "slow_qs", "l1")}))
    assert paper > 3600 and default < 600
    assert 0.5 * 960 < slice_ < 2 * 960
    # GD's slow record is its landing point, which SGD's flow needs anyway: adding GD costs one
    # task's compilation (5 s), not a flow per instance
    with_gd, without = (sr.describe_cost(Config(**{**PRESETS["paper"], "optimizers": opts}))[1] for opts in (("gd", "sgd"), ("sgd",)))
    assert with_gd - without == pytest.approx(5.0)


def test_cost_of_a_resumed_sweep_is_what_is_left(tiny_run, tmp_path):
    """Given its run directory, `describe_cost` estimates what is not yet on disk: nothing for a
    finished sweep, a missing flow chunk's Σ n² share of its task (+ one task's compilation), and a
    GD landing only where a pending task needs it."""
    import shutil

    from implicit_bias_lab.experiments import sparse_recovery as sr

    out, _ = tiny_run
    config = build_config(Config, PRESETS, "default", None, TINY)
    assert sr.describe_cost(config, out_dir=tmp_path / "absent") == sr.describe_cost(config)
    text, left = sr.describe_cost(config, out_dir=out)
    assert left == 0 and "on disk" in text
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)  # (other tests may add folders of other settings to `out`)
    stored = sr.chunk_store(config, copy)
    stored.path("landing-size4-00001").unlink()  # no pending task needs it
    assert sr.describe_cost(config, out_dir=copy)[1] == 0
    stored.path("slow-sgd-size4-00001").unlink()
    # chunk 1 holds n = 10, 10 (chunk 0: 6, 6, 6, 10), so its share of Σ n² is 200/408
    flow_only = 6 * sr._task_seconds(config, "sgd", "slow") * 200 / 408 + 5.0
    with_landing = sr.describe_cost(config, out_dir=copy)[1]
    shutil.copy(sr.chunk_store(config, out).path("landing-size4-00001"), stored.path("landing-size4-00001"))
    assert sr.describe_cost(config, out_dir=copy)[1] == pytest.approx(flow_only, rel=1e-12)
    assert with_landing > flow_only + 5.0  # the landing's steps and its compilation


# SGD and Adam on one fixed budget (the paper protocol's shape), tiny: the runs that `design_dtype`
# and `share_design` must reproduce
PAIR = dict(d=24, kappa=2, n=(6, 10), seeds=2, optimizers=("sgd", "adam"), methods=("discrete",), start="init",
            init="gaussian", init_scale=0.1, lr_adam=0.05, lr_sgd=0.05, label_noise=0.5, eps=1e-6, fixed_steps=400,
            chunk_size=4, block_size=2)


def test_narrow_design_gives_bitwise_the_same_runs():
    """design_dtype = bfloat16 / float16 on the ±1 design: the padded designs are stored narrow,
    stay narrow in the run's problem, the products compute in float32 (the gradient's dtype), and
    the discrete SGD and Adam runs are bitwise those of the float32-stored design."""
    import dataclasses

    import jax
    import jax.numpy as jnp

    from implicit_bias_lab.experiments import sparse_recovery as sr

    config = Config(**PAIR)
    chunk = sr.instances(config)
    ref = {opt: sr.discrete_simulation(config, opt, chunk, None)[0] for opt in config.optimizers}
    for narrow in ("bfloat16", "float16"):
        narrow_config = dataclasses.replace(config, design_dtype=narrow)
        problems = sr.padded_problems(narrow_config, [sr.instance_data(config, inst) for inst in chunk], jnp.float32)
        one = jax.tree_util.tree_map(lambda a: a[0], problems).astype(jnp.float32)
        assert problems.X.dtype == one.X.dtype == jnp.dtype(narrow)
        assert one.design().dtype == one.grad(jnp.full(2 * config.d, 0.1, jnp.float32)).dtype == jnp.float32
        for opt in config.optimizers:
            sim = sr.discrete_simulation(narrow_config, opt, chunk, None)[0]
            np.testing.assert_array_equal(sim.theta, ref[opt].theta)
            np.testing.assert_array_equal(sim.status, ref[opt].status)


def test_narrow_design_refuses_a_design_it_would_change():
    """A Gaussian design is not exact in bfloat16: refused by the config, and by the problems'
    own entry-by-entry check (what guards any design), both naming `design_dtype`."""
    import jax
    import jax.numpy as jnp

    from implicit_bias_lab.experiments import sparse_recovery as sr
    from implicit_bias_lab.models import make_sparse_regression

    with pytest.raises(ConfigError, match="design_dtype.*gaussian"):
        Config(**{**PAIR, "design": "gaussian", "design_dtype": "bfloat16"})
    gaussian = make_sparse_regression(jax.random.PRNGKey(0), 6, PAIR["d"], 2, "gaussian")
    with pytest.raises(ConfigError, match="'design_dtype' = 'bfloat16' would change the design.*not exact"):
        sr.padded_problems(Config(**PAIR, design_dtype="bfloat16"), [gaussian], jnp.float32)


def test_shared_design_runs_equal_the_separate_runs():
    """share_design: SGD and Adam of each instance in one program (one design, products
    X·[w_sgd, w_adam]) with the separate runs' noise keys. The products' summation order differs,
    so the runs are equal up to rounding amplified by the dynamics. float64: within 1e-8 of max |θ|
    for both. float32: SGD within 1e-5; Adam at ε ≈ 0 takes O(η) sign-like steps on coordinates
    whose gradient is at rounding level, so any ulp-level change moves it visibly: the shared run
    must be no farther from the separate one than the separate run moves when its start moves by
    one ulp (×4)."""
    import jax.numpy as jnp

    from implicit_bias_lab.experiments import sparse_recovery as sr

    for dtype in ("float64", "float32"):
        config = Config(**PAIR, dtype=dtype)
        shared = Config(**PAIR, dtype=dtype, share_design=True)
        chunk = sr.instances(config)
        data = [sr.instance_data(config, inst) for inst in chunk]
        sims, _ = sr.discrete_group_simulation(shared, ("sgd", "adam"), chunk, None)
        theta0 = sr.initial_theta(config, chunk, sr.compute_dtype(config))
        for opt, sim in zip(("sgd", "adam"), sims):
            alone = np.asarray(sr.run_discrete(config, opt, chunk, data, theta0).theta)
            np.testing.assert_array_equal(sim.status, 0)
            gap = np.max(np.abs(np.asarray(sim.theta) - alone)) / np.max(np.abs(alone))
            if dtype == "float64":
                assert gap < 1e-8, (opt, gap)
            elif opt == "sgd":
                assert gap < 1e-5, gap
            else:
                moved = np.asarray(sr.run_discrete(config, opt, chunk, data, jnp.nextafter(theta0, jnp.inf)).theta)
                assert gap <= 4 * np.max(np.abs(moved - alone)) / np.max(np.abs(alone)), gap


def test_shared_design_sweep_gives_the_separate_sweeps_records(tmp_path):
    """A whole sweep with share_design and a bfloat16 design (float64 runs; GD and the ℓ1 program
    alongside, run as before): SGD and Adam run as one task per chunk ("sgd+adam" in the progress
    lines), and the records equal the plain sweep's to 1e-9 relative, statuses and recovery
    decisions alike; a rerun finds every chunk on disk."""
    import io

    from implicit_bias_lab.experiments import sparse_recovery as sr

    base = {**PAIR, "optimizers": ("gd", "sgd", "adam"), "methods": ("discrete", "l1"), "dtype": "float64", "seeds": 3}
    plain, shared = Config(**base), Config(**base, share_design=True, design_dtype="bfloat16")
    assert sr.shared_groups(plain) == {} and sr.shared_groups(shared) == {0: ("sgd", "adam")}
    sr.run(plain, tmp_path / "plain", progress=io.StringIO())
    log = io.StringIO()
    sr.run(shared, tmp_path / "shared", progress=log)
    assert "discrete sgd+adam chunk 1" in log.getvalue()
    a, b = read_results(tmp_path / "plain" / "results.nc"), read_results(tmp_path / "shared" / "results.nc")
    assert list(a.status.values) == list(b.status.values) and list(a.recovered.values) == list(b.recovered.values)
    np.testing.assert_allclose(b.test_loss.values, a.test_loss.values, rtol=1e-9)
    log = io.StringIO()
    sr.run(shared, tmp_path / "shared", progress=log)
    assert "already on disk" in log.getvalue()
