"""The `ibl` command line: per-experiment help, `ibl show` round trips, config files with a preset
or sections, the cost gate (`--yes`), checks of --out, the start/final manifest, interruption by
SIGINT/SIGTERM and the progress output."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from implicit_bias_lab.experiments import sparse_recovery as sr
from implicit_bias_lab.experiments.cli import main
from implicit_bias_lab.experiments.config import ConfigError, build_config, resolve_config
from implicit_bias_lab.experiments.io import read_manifest, write_manifest, write_start_manifest
from implicit_bias_lab.experiments.progress import Progress

ROOT = Path(__file__).parent.parent
TINY = ["d=20", "kappa=2", "n=[8]", "seeds=2", 'optimizers=["gd","sgd"]', 'methods=["discrete"]', "gd_steps=200",
        "lr_sgd=0.05", "sgd_efolds=2"]


def sets(items):
    return [a for kv in items for a in ("--set", kv)]


def one_error_line(err: str, *words):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("ibl: error:") and "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def fake_run(monkeypatch):
    """sparse_recovery.run replaced by a stand-in that records what it saw and writes the final
    manifest like the real one."""
    seen = {}

    def run(config, out_dir, executor=None):
        seen["config"], seen["out"] = config, Path(out_dir)
        seen["start"] = read_manifest(out_dir)
        write_manifest(out_dir, config, wall_time_s=0.0, extra={"summary": {}})
        return {"records": 0}

    monkeypatch.setattr(sr, "run", run)
    return seen


# ---- help and show ----

def test_run_help_lists_the_experiments_keys_types_defaults_and_presets(capsys, monkeypatch):
    monkeypatch.setattr(sr, "FIELD_HELP", {"d": "dimension of the sparse vector w*"}, raising=False)
    assert main(["run", "sparse-recovery", "--help"]) == 0
    out = capsys.readouterr().out
    assert "defaults shown are the default preset's" in " ".join(out.split())
    d_line = next(line for line in out.splitlines() if line.split()[:1] == ["d"])
    # the default preset's d (200), not the dataclass's (100), with its type and meaning
    assert d_line.split()[:3] == ["d", "int", str(sr.PRESETS["default"]["d"])] and "dimension of the sparse vector" in d_line
    assert any(line.split()[:2] == ["n", "tuple[int,"] for line in out.splitlines())
    for name in sr.PRESETS:
        assert f"  {name}: " in out
    assert "d=10000" in out  # the paper preset's values
    assert main(["run", "--help"]) == 0 and "sparse-recovery" in capsys.readouterr().out


@pytest.mark.parametrize("preset", sorted(sr.PRESETS))
def test_show_writes_toml_that_run_reads_back_to_an_equal_config(preset, tmp_path, capsys):
    extra = ["seeds=3", "dead_floor=1.5e-07", "lr_adam=0.015", "sweep_key=lr_adam", "sweep_values=[0.015, 0.02]"]
    assert main(["show", "sparse-recovery", "--preset", preset, *sets(extra)]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    expected = build_config(sr.Config, sr.PRESETS, preset, None, extra)
    config, used = resolve_config(sr.Config, sr.PRESETS, None, path)
    assert config == expected and used == preset
    # edited and passed back: the edit wins, the rest stays
    path.write_text(text.replace("seeds = 3", "seeds = 5"))
    assert build_config(sr.Config, sr.PRESETS, None, path) == build_config(sr.Config, sr.PRESETS, preset, None, extra + ["seeds=5"])


def test_show_prints_every_key_of_every_experiment(capsys):
    from implicit_bias_lab.experiments.registry import EXPERIMENTS, load_experiment

    for name in EXPERIMENTS:
        assert main(["show", name]) == 0
        text = capsys.readouterr().out
        import tomllib

        data = tomllib.loads(text)
        mod = load_experiment(name)
        assert set(data) == {f for f in mod.Config.__dataclass_fields__} | {"preset"}


# ---- config files ----

def test_preset_inside_a_config_file_applies_under_its_keys(tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text('preset = "paper"\nseeds = 2\n')
    config, used = resolve_config(sr.Config, sr.PRESETS, None, path)
    assert used == "paper" and config == build_config(sr.Config, sr.PRESETS, "paper", None, ["seeds=2"])
    assert build_config(sr.Config, sr.PRESETS, "paper", path) == config  # the same preset named twice is fine
    with pytest.raises(ConfigError, match="--preset 'default' contradicts preset = 'paper'"):
        resolve_config(sr.Config, sr.PRESETS, "default", path)
    path.write_text('preset = "huge"\n')
    with pytest.raises(ConfigError, match="'preset' in .*p.toml must be one of"):
        resolve_config(sr.Config, sr.PRESETS, None, path)
    path.write_text("preset = 3\n")
    with pytest.raises(ConfigError, match="'preset'"):
        resolve_config(sr.Config, sr.PRESETS, None, path)
    # on the command line: one line naming the option, nothing created
    path.write_text('preset = "paper"\n')
    out = tmp_path / "run"
    assert main(["run", "sparse-recovery", "--preset", "default", "--config", str(path), "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, "--preset")
    assert not out.exists()


def test_unknown_sections_are_named_as_sections(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text("d = 50\n[foo]\nx = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[foo\]"):
        build_config(sr.Config, sr.PRESETS, None, path)
    path.write_text("[d]\nx = 1\n")  # a known key's name used as a section is still a section
    with pytest.raises(ConfigError, match=r"unknown section \[d\]"):
        build_config(sr.Config, sr.PRESETS, None, path)
    assert main(["run", "sparse-recovery", "--config", str(path), "--out", str(tmp_path / "x")]) == 2
    one_error_line(capsys.readouterr().err, "unknown section [d]")
    assert not (tmp_path / "x").exists()


# ---- cost gate ----

def test_an_expensive_sweep_needs_yes(tmp_path, capsys, monkeypatch, fake_run):
    monkeypatch.setattr(sr, "describe_cost", lambda config, out_dir=None: (f"{config.seeds} seeds of a big sweep", 7200.0), raising=False)
    out = tmp_path / "run"
    assert main(["run", "sparse-recovery", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "8 seeds of a big sweep" in err
    line = [line for line in err.splitlines() if line.startswith("ibl: error")]
    assert len(line) == 1 and "2.0 h" in line[0] and "--yes" in line[0]
    assert not out.exists() and "config" not in fake_run
    assert main(["run", "sparse-recovery", "--out", str(out), "--yes"]) == 0
    assert "8 seeds of a big sweep" in capsys.readouterr().err and fake_run["config"].seeds == 8
    # a cheap one runs without asking
    monkeypatch.setattr(sr, "describe_cost", lambda config, out_dir=None: ("small", 12.0))
    assert main(["run", "sparse-recovery", "--out", str(tmp_path / "cheap")]) == 0


# ---- --out ----

def test_out_that_is_a_file_or_unwritable_is_refused_before_anything_is_made(tmp_path, capsys, fake_run):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, afile / "sub" / "run"):
        assert main(["run", "sparse-recovery", "--out", str(out)]) == 2
        one_error_line(capsys.readouterr().err, "--out")
    assert afile.read_text() == "x"
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert main(["run", "sparse-recovery", "--out", str(locked / "run")]) == 2
            one_error_line(capsys.readouterr().err, "--out", "cannot write")
            assert not (locked / "run").exists()
        finally:
            locked.chmod(0o700)
    assert "config" not in fake_run


def test_failed_option_checks_leave_no_run_directory(tmp_path, capsys, fake_run):
    out = tmp_path / "a" / "run"
    assert main(["run", "two-step", "--executor", "ray", "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, "--executor")
    assert main(["run", "sparse-recovery", "--devices", "0", "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, "devices")
    assert main(["run", "sparse-recovery", "--set", "kappa=0", "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, "kappa")
    assert not (tmp_path / "a").exists()


def test_a_run_directory_of_other_settings_is_refused(tmp_path, capsys, fake_run):
    out = tmp_path / "run"
    assert main(["run", "sparse-recovery", "--out", str(out), *sets(["seeds=2"])]) == 0
    capsys.readouterr()
    # the same settings again: a resume, allowed
    assert main(["run", "sparse-recovery", "--out", str(out), *sets(["seeds=2"])]) == 0
    capsys.readouterr()
    assert main(["run", "sparse-recovery", "--out", str(out), *sets(["seeds=3"])]) == 2
    line = one_error_line(capsys.readouterr().err, "--out", "other settings", "seeds", "new directory")
    assert "2" in line and "3" in line
    assert main(["run", "matrix-factorization", "--out", str(out)]) == 2
    one_error_line(capsys.readouterr().err, "--out")


# ---- manifest ----

def test_manifest_is_written_running_at_the_start_and_complete_at_the_end(tmp_path, capsys, fake_run):
    out = tmp_path / "run"
    argv = ["run", "sparse-recovery", "--preset", "paper", "--out", str(out), "--set", "seeds=1"]
    assert main(argv) == 0
    start = fake_run["start"]
    assert start["status"] == "running" and start["preset"] == "paper" and start["experiment"] == "sparse-recovery"
    assert start["git_dirty"] in (True, False, None) and "git_commit" in start and start["command"] == ["ibl", *argv]
    assert start["config"]["seeds"] == 1 and start["config"]["d"] == 10_000
    final = json.loads((out / "manifest.json").read_text())
    assert final["status"] == "complete" and final["wall_time_s"] == 0.0
    for key in ("preset", "experiment", "started_utc", "git_commit", "git_dirty", "command"):
        assert final[key] == start[key], key
    # existing callers of write_manifest (no start manifest) still get a complete manifest
    other = tmp_path / "other"
    write_manifest(other, fake_run["config"], wall_time_s=1.5)
    assert read_manifest(other)["status"] == "complete"
    # a start manifest of another config is not merged into the final one
    write_start_manifest(other, {"x": 1}, preset="weird")
    write_manifest(other, fake_run["config"], wall_time_s=1.5)
    assert "preset" not in read_manifest(other)


def test_default_out_resume_command_names_the_chosen_directory(tmp_path, capsys, fake_run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "sparse-recovery", "--set", "seeds=1"]) == 0
    cmd = fake_run["start"]["command"]
    assert cmd[:2] == ["ibl", "run"] and cmd[-2] == "--out" and Path(cmd[-1]) == fake_run["out"]
    assert fake_run["out"].parent == Path("runs")


# ---- interruption ----

@pytest.mark.parametrize("sig,code,name", [(signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")])
def test_interrupted_run_says_what_is_stored_and_how_to_resume(tmp_path, sig, code, name):
    out = tmp_path / "run"
    argv = ["run", "sparse-recovery", *sets(TINY), "--out", str(out)]
    cmd = [sys.executable, "-c", "import sys; from implicit_bias_lab.experiments.cli import main; sys.exit(main(sys.argv[1:]))", *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.time() + 120
    # wait until the sweep has stored its first chunk (so the signal lands inside the run)
    while time.time() < deadline and proc.poll() is None and not list((out / "chunks").glob("*/*.npz")):
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr and "Traceback" not in stdout
    last = stderr.strip().splitlines()[-1]
    stored = len(list((out / "chunks").glob("*/*.npz")))
    chunks = "1 chunk" if stored == 1 else f"{stored} chunks"
    assert last.startswith(f"ibl: stopped by {name}; {chunks} stored in {out}; resume with: ibl run sparse-recovery ")
    import shlex

    assert shlex.split(last.split("resume with: ", 1)[1]) == ["ibl", *argv]
    assert stored >= 1 and json.loads((out / "manifest.json").read_text())["status"] == "running"


# ---- progress ----

class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_writes_one_line_per_update_into_a_log():
    log = io.StringIO()
    bar = Progress(4, initial=1, stream=log, label="sweep on local (2 × cpu)")
    bar.update("chunk 1")
    bar.update("chunk 2")
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines[0] == "sweep on local (2 × cpu): 4 chunks, 1 already on disk"
    assert len(lines) == 3 and "\r" not in log.getvalue()
    assert "2/4 chunks" in lines[1] and "chunk 1" in lines[1] and "3/4 chunks" in lines[2] and "chunk 2" in lines[2]
    assert bar.done == 3


def test_progress_eta_is_per_stage_and_steps_show_inside_chunks(monkeypatch):
    """A stage's ETA is its own remaining chunks × its own time per chunk (not an average over
    unlike stages); the total sums the stages, '+?' for one not yet measured; the engine's step
    reports (report_block_steps) show inside a chunk."""
    from implicit_bias_lab.experiments import progress as pg

    clock = [0.0]
    monkeypatch.setattr(pg.time, "perf_counter", lambda: clock[0])
    log = io.StringIO()
    stages = {"adam/discrete": (3, 1000), "adam/slow": (4, 0)}
    with Progress(7, stream=log, label="sweep", stages=stages, line_interval=5.0) as bar:
        clock[0] = 2.0
        pg.report_block_steps(500)  # half a chunk of Adam steps, in a log: no line before 5 s
        clock[0] = 6.0
        pg.report_block_steps(250)
        assert log.getvalue().splitlines()[-1] == "sweep: 0/7 chunks, discrete steps 25% [elapsed 0:06]"
        clock[0] = 10.0
        pg.report_block_steps(250)
        bar.update("discrete adam chunk 0", stage="adam/discrete")  # 10 s per Adam chunk
        assert bar.eta("adam/discrete") == (20.0, True)
        assert bar.eta() == (20.0, False)  # the flow stage has no measurement yet
        assert log.getvalue().splitlines()[-1].endswith("| stage adam/discrete eta 0:20 | discrete steps 33% | total eta ~0:20 +?")
        for t in (20.0, 30.0):
            clock[0] = t
            pg.report_block_steps(1000)
            bar.update("discrete adam chunk", stage="adam/discrete")
        clock[0] = 31.0
        bar.update("slow adam chunk 0", stage="adam/slow")  # 1 s per flow chunk
        assert bar.eta("adam/slow") == (3.0, True)
        assert bar.eta() == (3.0, True)  # not 3 chunks × the 7.75 s average of unlike stages
    assert pg._ACTIVE == []
    pg.report_block_steps(10)  # no active bar: ignored
    assert bar.steps_done == 3000


def test_progress_redraws_a_bar_on_a_terminal_and_is_silent_without_a_stream():
    tty = FakeTTY()
    bar = Progress(3, stream=tty, label="sweep")
    for i in range(3):
        bar.update(f"chunk {i}")
    bar.close()
    text = tty.getvalue()
    assert text.startswith("sweep: 3 chunks\n") and "\r" in text and "3/3" in text and text.endswith("\n")
    quiet = Progress(3, stream=None)
    quiet.update("x")
    quiet.close()
    assert quiet.done == 1
