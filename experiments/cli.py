"""The `ibl` command: list and run experiments, run the paper checks and the classroom demos."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import inspect
import json
import os
import shlex
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

from implicit_bias_lab.experiments.config import ConfigError, config_values, dump_toml, field_types, resolve_config, toml_value, type_name
from implicit_bias_lab.experiments.executors import EXECUTOR_NAMES
from implicit_bias_lab.experiments.io import config_record, read_manifest, write_start_manifest
from implicit_bias_lab.experiments.registry import EXPERIMENTS, load_experiment
from implicit_bias_lab.precision import enable_x64

DEMOS_MODULE = "implicit_bias_lab.experiments.demos"
CHECKS_MODULE = "implicit_bias_lab.paper_checks"


def default_out(kind: str, name: str) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{kind}-{name}-{stamp}"


def cmd_list(args) -> int:
    print("experiments (ibl run NAME):")
    for name in sorted(EXPERIMENTS):
        mod = load_experiment(name)
        print(f"  {name:24s} {mod.DESCRIPTION}  [presets: {', '.join(sorted(mod.PRESETS))}]")
    try:
        demos = importlib.import_module(DEMOS_MODULE).DEMOS
        print("demos (ibl demo NAME):")
        for name, mod_path in sorted(demos.items()):
            print(f"  {name:24s} {importlib.import_module(mod_path).DESCRIPTION}")
    except ModuleNotFoundError:
        pass
    return 0


def _exp_defaults(mod):
    """(config of the default preset, error text or None); the raw dataclass defaults merged with
    the preset when the preset alone does not validate."""
    try:
        return resolve_config(mod.Config, mod.PRESETS, "default")[0], None
    except ConfigError as err:
        return None, str(err)


def experiment_help(name: str) -> str:
    """`ibl run NAME --help`: the experiment's config keys (type, default, meaning) and presets."""
    mod = load_experiment(name)
    helps = getattr(mod, "FIELD_HELP", {}) or {}
    kinds = field_types(mod.Config)
    config, err = _exp_defaults(mod)
    if config is not None:
        values = config_values(config)
    else:
        values = {f.name: f.default for f in dataclasses.fields(mod.Config)}
        values.update(mod.PRESETS.get("default", {}))
    rows = [(key, type_name(kind), toml_value(values.get(key))) for key, kind in kinds.items()]
    wk = max(len(r[0]) for r in rows)
    wt = max(len(r[1]) for r in rows)
    wv = min(max(len(r[2]) for r in rows), 28)
    lines = [f"experiment {name}: {mod.DESCRIPTION}", ""]
    lines += textwrap.wrap(f"config keys (set with --set KEY=VALUE or a --config TOML file); defaults shown are the default preset's: "
                           f"`ibl run {name}` without --preset runs the 'default' preset, whose values can differ from the "
                           f"Config dataclass's defaults.", 100)
    if err:
        lines.append(f"(the default preset does not validate: {err})")
    lines.append("")
    for key, kind, value in rows:
        meaning = helps.get(key, "")
        text = f"  {key:{wk}s}  {kind:{wt}s}  {value:{wv}s}"
        lines.append((text + "  " + meaning).rstrip() if len(value) <= wv else (f"  {key:{wk}s}  {kind:{wt}s}  {value}" + (f"\n  {'':{wk}s}  {'':{wt}s}  {'':{wv}s}  {meaning}" if meaning else "")))
    lines += ["", f"presets (--preset NAME; `ibl show {name} --preset NAME` prints one in full):"]
    for pname in sorted(mod.PRESETS, key=lambda p: (p != "default", p)):
        preset = mod.PRESETS[pname]
        settings = ", ".join(f"{k}={toml_value(v)}" for k, v in preset.items()) or "the Config dataclass's defaults"
        lines.append(f"  {pname}: {settings}")
    if hasattr(mod, "describe_cost"):
        lines += ["", "Before a sweep starts its estimated cost is printed; estimates above 1 h need --yes."]
    return "\n".join(lines)


def cmd_show(args) -> int:
    mod = load_experiment(args.name)
    config, preset = resolve_config(mod.Config, mod.PRESETS, args.preset, args.config, args.set)
    comments = [f"ibl run {args.name}: resolved config ({'preset ' + repr(preset)}" + (f", {args.config}" if args.config else "")
                + (", --set overrides" if args.set else "") + ")",
                f"edit and run with: ibl run {args.name} --config FILE"]
    if hasattr(mod, "describe_cost"):
        try:
            text, seconds = mod.describe_cost(config)
            comments += ["", f"estimated cost ({_duration(seconds)}):", *str(text).splitlines()]
        except Exception as err:  # a cost note never stops `show`
            comments.append(f"(no cost estimate: {err})")
    sys.stdout.write(dump_toml(config, preset=preset, comments=comments))
    return 0


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def check_out(out: Path, experiment: str, config) -> None:
    """The checks of --out, before anything is created: not a file, writable, and not a run
    directory of other settings."""
    if out.exists() and not out.is_dir():
        raise OptionError(f"option --out: {out} is a file, not a directory; pass a new directory to --out")
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OptionError(f"option --out: {probe} is a file, so {out} cannot be created; pass another directory to --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OptionError(f"option --out: cannot write to {probe}; pass a writable directory to --out")
    if not out.exists():
        return
    try:
        manifest = read_manifest(out)
    except ValueError as err:
        raise OptionError(f"option --out: {err}; pass a new directory to --out") from None
    if manifest is not None:
        recorded, wanted = manifest.get("config"), config_record(config)
        other = manifest.get("experiment")
        if other not in (None, experiment):
            raise OptionError(f"option --out: {out} holds a run of experiment {other!r}; pass a new directory to --out")
        if recorded != wanted:
            if isinstance(recorded, dict) and isinstance(wanted, dict):
                diff = [k for k in wanted if recorded.get(k, object()) != wanted[k]] + [k for k in recorded if k not in wanted]
                what = "; ".join(f"{k}: {recorded.get(k, '(none)')!r} there, {wanted.get(k, '(none)')!r} now" for k in diff[:3])
                what += f"; and {len(diff) - 3} more keys" if len(diff) > 3 else ""
            else:
                what = "its recorded config is not this experiment's"
            raise OptionError(f"option --out: {out} holds a run with other settings ({what}); pass a new directory to --out")


class OptionError(ValueError):
    """A bad command-line option; the message names the option."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt."""


def cmd_run(args) -> int:
    if not args.name:
        if not args.help:
            raise OptionError(f"argument name: missing; ibl run NAME with NAME one of {sorted(EXPERIMENTS)}")
        print(args.run_parser.format_help())
        print(f"experiments: {', '.join(sorted(EXPERIMENTS))}  (ibl run NAME --help: its config keys and presets)")
        return 0
    if args.help:
        print(args.run_parser.format_help())
        print(experiment_help(args.name))
        return 0
    args.interrupt_note = lambda: "nothing was stored"
    mod = load_experiment(args.name)
    config, preset = resolve_config(mod.Config, mod.PRESETS, args.preset, args.config, args.set)
    out = Path(args.out) if args.out else default_out("run", args.name)
    check_out(out, args.name, config)
    kwargs = {}
    custom_executor = (args.executor, args.devices, args.address) != ("local", None, None)
    if custom_executor and "executor" not in inspect.signature(mod.run).parameters:
        raise OptionError(f"options --executor/--devices/--address: experiment {args.name!r} runs in one process only")
    if custom_executor:  # before the run directory is made: a bad --devices leaves nothing behind
        from implicit_bias_lab.experiments.executors import make_executor

        kwargs["executor"] = make_executor(args.executor, devices=args.devices, address=args.address, retries=args.retries)
    if hasattr(mod, "describe_cost"):
        text, seconds = mod.describe_cost(config, out_dir=out)  # a resumed sweep: what is left
        print(f"{text}\nestimated wall time: {_duration(seconds)}", file=sys.stderr, flush=True)
        if seconds > 3600 and not args.yes:
            raise OptionError(f"option --yes: the estimated wall time is {_duration(seconds)} (> 1 h); pass --yes to run it")
    # from here on the run directory exists; an interruption names it and the command that resumes it
    resume = ["ibl", *args.argv] + ([] if args.out else ["--out", str(out)])

    def note() -> str:
        stored = count_chunks(out)
        return f"{stored} chunk{'' if stored == 1 else 's'} stored in {out}; resume with: {shlex.join(resume)}"

    args.interrupt_note = note
    out.mkdir(parents=True, exist_ok=True)
    write_start_manifest(out, config, experiment=args.name, preset=preset, command=resume)
    t0 = time.perf_counter()
    try:
        summary = mod.run(config, out, **kwargs)
    finally:
        if hasattr(kwargs.get("executor"), "shutdown"):
            kwargs["executor"].shutdown()
    print(json.dumps(summary, indent=2, default=str))
    print(f"results in {out}  ({time.perf_counter() - t0:.1f} s)")
    return 0


def count_chunks(out: Path) -> int:
    """Chunk files stored under out/chunks (one folder per settings, one .npz per chunk)."""
    root = Path(out) / "chunks"
    return sum(1 for p in root.glob("*/*.npz")) if root.is_dir() else 0


def cmd_check(args) -> int:
    checks = importlib.import_module(CHECKS_MODULE)
    out = Path(args.out) if args.out else default_out("check", args.size)
    return 0 if checks.run_checks(size=args.size, out_dir=out, only=args.only) else 1


def cmd_demo(args) -> int:
    demos = importlib.import_module(DEMOS_MODULE)
    out = Path(args.out) if args.out else default_out("demo", args.name)
    for path in demos.run_demo(args.name, out, small=args.small):
        print(path)
    return 0


def cmd_gallery(args) -> int:
    from implicit_bias_lab.experiments.gallery import regenerate

    for path in regenerate(args.only):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ibl", description="implicit-bias-lab: simulate and check implicit biases of SGD and Adam.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list experiments and demos", description="List the experiments and demos.")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run an experiment", add_help=False,
                       description="Run an experiment from a preset, a TOML file and overrides. "
                                   "`ibl run NAME --help` lists NAME's config keys and presets.")
    p.add_argument("-h", "--help", action="store_true", help="show this help (with NAME: its config keys and presets) and exit")
    p.add_argument("name", nargs="?", help="experiment name (see `ibl list`)")
    p.add_argument("--preset", default=None, help="preset to start from (default: the config file's `preset`, else 'default')")
    p.add_argument("--config", help="TOML file whose keys override the preset (`ibl show NAME` writes one)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key (repeatable)")
    p.add_argument("--out", help="run directory (default: runs/run-NAME-TIMESTAMP)")
    p.add_argument("--executor", choices=list(EXECUTOR_NAMES), default="local",
                   help="where chunks run: local devices (default) or Ray tasks, one device each")
    p.add_argument("--devices", type=int, default=None, help="local: how many local JAX devices (default: all); ray: CPUs of a local runtime")
    p.add_argument("--address", default=None, help="ray: cluster address (default: start a local runtime)")
    p.add_argument("--retries", type=int, default=2, help="ray: retries per task (default: 2)")
    p.add_argument("--yes", action="store_true", help="run even if the estimated wall time exceeds 1 h")
    p.set_defaults(func=cmd_run, run_parser=p)

    p = sub.add_parser("show", help="print an experiment's resolved config as TOML",
                       description="Print the resolved config as TOML; edit it and pass it back with `ibl run NAME --config FILE`.")
    p.add_argument("name", help="experiment name (see `ibl list`)")
    p.add_argument("--preset", default=None, help="preset to start from (default: the config file's `preset`, else 'default')")
    p.add_argument("--config", help="TOML file whose keys override the preset")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key (repeatable)")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("check", help="run the paper checks", description="Check every theoretical claim symbolically and numerically; print a table.")
    p.add_argument("--size", choices=["small", "full"], default="full", help="problem sizes of the numeric side")
    p.add_argument("--only", action="append", default=None, metavar="CLAIM", help="run only these claims (repeatable)")
    p.add_argument("--out", help="run directory for the Markdown table")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("gallery", help="regenerate the README's pictures (figures/gallery/)",
                       description="Rerun every demo and experiment preset behind figures/gallery/ and copy their pictures in place.")
    p.add_argument("--only", action="append", default=None, metavar="FILE", help="regenerate only this gallery file (repeatable)")
    p.set_defaults(func=cmd_gallery)

    p = sub.add_parser("demo", help="run a classroom demo", description="Run a classroom demo and print the paths of what it wrote.")
    p.add_argument("name", help="demo name (see `ibl list`)")
    p.add_argument("--small", action="store_true", help="a smaller, faster version (used by the tests)")
    p.add_argument("--out", help="output folder (default: runs/demo-NAME-TIMESTAMP)")
    p.set_defaults(func=cmd_demo)
    return parser


def _raise_terminated(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    enable_x64()  # the CLI runs the theory in float64 (docs/theory.md#1-conventions)
    args = build_parser().parse_args(argv)
    args.argv = argv
    args.interrupt_note = None
    # Ctrl-C and SIGTERM stop with one line (what is stored, how to resume), never a traceback
    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
                    signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated)}
    try:
        return args.func(args)
    except (ConfigError, ValueError) as err:
        print(f"ibl: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        for sig in handlers:  # a second signal while reporting does not interrupt the report
            signal.signal(sig, signal.SIG_IGN)
        name, code = ("SIGTERM", 143) if isinstance(err, Terminated) else ("SIGINT", 130)
        note = f"; {args.interrupt_note()}" if args.interrupt_note else ""
        lead = "\n" if getattr(sys.stderr, "isatty", lambda: False)() else ""
        print(f"{lead}ibl: stopped by {name}{note}", file=sys.stderr, flush=True)
        return code
    finally:
        for sig, old in handlers.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
