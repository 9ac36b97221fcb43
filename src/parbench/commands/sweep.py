"""`parbench sweep`: measure workloads x sizes x strategies x workers, each cell in a fresh pinned probe.

This module parses arguments and wires the steps: the run's lifecycle (plan, calibrate, meta.json, measure, resume,
analyse, report) is runner.lifecycle's, what it says on the console runner.display's. Bad input is found before
anything is written; Ctrl-C keeps every finished cell and says how to --resume.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from parbench.commands.common import add_function_flags, function_from, key_value, wide_console
from parbench.errors import UserError
from parbench.interrupts import Interrupted
from parbench.results.store import RunStore
from parbench.runner import lifecycle
from parbench.runner.display import SweepDisplay, print_plan
from parbench.runner.presets import PRESETS
from parbench.runner.spec import KEY_HELP, ParamFlag, SweepSpec, build_spec

NAME = "sweep"
HELP = "measure workloads x sizes x strategies x workers, each cell in a fresh pinned process; resumable"
WHAT = ("workloads", "strategies", "workers", "start-methods", "pythons", "gil")
HOW = ("repeat", "warmup", "rounds", "timeout", "quiet-wait", "seed", "isolation")
SPEC_FLAGS = tuple(key.replace("-", "_") for key in (*WHAT, *HOW, "envs"))
PARAM_FLAGS = (("sizes", "size", "sizes (1e6, 10_000_000)"), ("kernels", "kernel", "array-sum kernels: python, numpy"),
               ("delay", "delay", "delayed-square seconds per item"))
DEFAULT_RESULTS = Path("results")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to measure (a preset, then --config, then these flags)")
    what.add_argument("--preset", help=f"built-in sweep: {', '.join(PRESETS)} (default: default)")
    what.add_argument("--config", type=Path, metavar="FILE", help="a sweep TOML file (see README: Sweeps)")
    how = parser.add_argument_group("how to measure")
    for group, keys in ((what, WHAT), (how, HOW)):
        for key in keys:
            text, metavar = KEY_HELP[key]
            group.add_argument(f"--{key}", dest=key.replace("-", "_"), metavar=metavar, help=text)
    for flag, _, text in PARAM_FLAGS:
        what.add_argument(f"--{flag}", action="append", metavar="[WORKLOAD=]V,...",
                          help=f"{text}; WORKLOAD= sets one workload's; repeatable")
    what.add_argument("--param", action="append", type=key_value, default=[], metavar="KEY=V,...",
                      help="any other workload parameter, to every workload that takes it; repeatable")
    where = parser.add_argument_group("where")
    where.add_argument("--results", type=_folder, help="results folder (default: results)")
    where.add_argument("--envs", metavar="DIR", help=KEY_HELP["envs"][0])
    where.add_argument("--run-id", help="name of the run folder (default: the date and time, YYYYmmdd-HHMMSS)")
    where.add_argument("--resume", metavar="RUN", help="measure the cells a run is missing (its spec is kept): its id "
                                                     "in the results folder, or the path of its folder")
    where.add_argument("--dry-run", action="store_true", help="print the planned cells and an estimate only")
    add_function_flags(parser)


def _folder(text: str) -> Path:
    """A folder argument: an empty one would silently mean the current directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty string")
    return Path(text)


def _results(args: argparse.Namespace) -> Path:
    return args.results if args.results is not None else DEFAULT_RESULTS


def _resume_target(args: argparse.Namespace) -> RunStore:
    """The run --resume names: an id (in --results) or a run folder's path; no spec flag goes with it."""
    given = [f"--{f.replace('_', '-')}" for f in (*SPEC_FLAGS, "preset", "config", "run_id", "function")
             if getattr(args, f)]
    given += [f"--{flag}" for flag, _, _ in PARAM_FLAGS if getattr(args, flag)] + (["--param"] if args.param else [])
    if given or args.dry_run:
        raise UserError(f"--resume continues a run with its own spec: drop {', '.join(given or ['--dry-run'])}")
    return lifecycle.resume_store(str(args.resume), args.results, DEFAULT_RESULTS)


def _spec(args: argparse.Namespace) -> SweepSpec:
    flags = [ParamFlag.parse(f"--{attr}", name, text)
             for attr, name, _ in PARAM_FLAGS for text in getattr(args, attr) or []]
    flags += [ParamFlag(f"--param {key}", key, tuple(values.split(","))) for key, values in args.param]
    values = {flag.replace("_", "-"): getattr(args, flag) for flag in SPEC_FLAGS}
    function = function_from(args)  # its name joins --workloads (or is the only workload)
    if function is not None:
        values["workloads"] = ",".join(w for w in (args.workloads, function) if w)
    return build_spec(args.preset, args.config, values, flags)


def _display() -> SweepDisplay:
    return SweepDisplay(wide_console(), wide_console(stderr=True))


def main(args: argparse.Namespace) -> int:
    if args.resume is None and args.dry_run:
        spec = _spec(args)
        print_plan(*lifecycle.dry_run(spec), spec)
        return 0
    display = _display()
    if args.resume is not None:
        pending = lifecycle.resume(_resume_target(args))
        display.resumed(pending)
    else:
        planned = lifecycle.plan_run(_spec(args), _results(args), args.run_id)
        display.calibrating(planned)
        pending = lifecycle.start(planned)
        display.started(planned, pending)
    try:
        display.measure(pending)
    except Interrupted as exc:
        return exc.exit_code
    done = lifecycle.conclude(pending.store.path)
    display.concluded(done)
    return 1 if done.failed else 0
