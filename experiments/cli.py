"""The `ibl` command: list and run experiments, run the paper checks and the classroom demos."""

from __future__ import annotations

import argparse
import datetime
import importlib
import inspect
import json
import sys
import time
from pathlib import Path

from experiments.config import ConfigError, build_config
from experiments.executors import EXECUTOR_NAMES
from experiments.registry import EXPERIMENTS, load_experiment

DEMOS_MODULE = "experiments.demos"
CHECKS_MODULE = "paper_checks"


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


def cmd_run(args) -> int:
    mod = load_experiment(args.name)
    config = build_config(mod.Config, mod.PRESETS, args.preset, args.config, args.set)
    out = Path(args.out) if args.out else default_out("run", args.name)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    kwargs = {}
    if (args.executor, args.devices, args.address) != ("local", None, None):
        if "executor" not in inspect.signature(mod.run).parameters:
            raise ValueError(f"options --executor/--devices/--address: experiment {args.name!r} runs in one process only")
        from experiments.executors import make_executor

        kwargs["executor"] = make_executor(args.executor, devices=args.devices, address=args.address, retries=args.retries)
    try:
        summary = mod.run(config, out, **kwargs)
    finally:
        if hasattr(kwargs.get("executor"), "shutdown"):
            kwargs["executor"].shutdown()
    print(json.dumps(summary, indent=2, default=str))
    print(f"results in {out}  ({time.perf_counter() - t0:.1f} s)")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ibl", description="implicit-bias-lab: simulate and check implicit biases of SGD and Adam.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list experiments and demos", description="List the experiments and demos.")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run an experiment", description="Run an experiment from a preset, a TOML file and overrides.")
    p.add_argument("name", help="experiment name (see `ibl list`)")
    p.add_argument("--preset", default="default", help="preset to start from (default: default)")
    p.add_argument("--config", help="TOML file whose keys override the preset")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one config key (repeatable)")
    p.add_argument("--out", help="run directory (default: runs/run-NAME-TIMESTAMP)")
    p.add_argument("--executor", choices=list(EXECUTOR_NAMES), default="local",
                   help="where chunks run: local devices (default) or Ray tasks, one device each")
    p.add_argument("--devices", type=int, default=None, help="local: how many local JAX devices (default: all); ray: CPUs of a local runtime")
    p.add_argument("--address", default=None, help="ray: cluster address (default: start a local runtime)")
    p.add_argument("--retries", type=int, default=2, help="ray: retries per task (default: 2)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help="run the paper checks", description="Check every theoretical claim symbolically and numerically; print a table.")
    p.add_argument("--size", choices=["small", "full"], default="full", help="problem sizes of the numeric side")
    p.add_argument("--only", action="append", default=None, metavar="CLAIM", help="run only these claims (repeatable)")
    p.add_argument("--out", help="run directory for the Markdown table")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("demo", help="run a classroom demo", description="Run a classroom demo and print the paths of what it wrote.")
    p.add_argument("name", help="demo name (see `ibl list`)")
    p.add_argument("--small", action="store_true", help="a smaller, faster version (used by the tests)")
    p.add_argument("--out", help="output folder (default: runs/demo-NAME-TIMESTAMP)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError) as err:
        print(f"ibl: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
