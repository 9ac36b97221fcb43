"""`parbench sweep`: measure workloads x sizes x strategies x workers, each cell in a fresh pinned probe.

This module parses and prints; the run's lifecycle (plan, calibrate, meta.json, measure, resume, analyse, report)
is runner.lifecycle's. Bad input is found before anything is written; Ctrl-C keeps every finished cell and says
how to --resume.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from parbench.commands.common import add_function_flags, function_from, key_value, wide_console
from parbench.errors import UserError
from parbench.interrupts import Interrupted
from parbench.results.store import RunStore
from parbench.runner import lifecycle
from parbench.runner.estimate import total_estimate
from parbench.runner.plan import describe_visits
from parbench.runner.presets import PRESETS
from parbench.runner.spec import KEY_HELP, ParamFlag, SweepSpec, build_spec
from parbench.units import fmt_duration, fmt_minutes

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


def _print_plan(spec: SweepSpec) -> None:
    plan, estimates = lifecycle.dry_run(spec)
    width = len(str(len(plan.cells)))
    for i, planned in enumerate(plan.cells, 1):
        extra = f"  UNAVAILABLE: {planned.unavailable}" if planned.unavailable else ""
        print(f"{i:>{width}}  {fmt_duration(estimates[planned.cell.key()] * 1e9):>9}  {planned.label()}{extra}")
    for note in plan.notes:
        print(f"note: {note}")
    baselines = sum(1 for c in plan.cells if c.cell.strategy == "sequential" and c.visit == 0)
    print(f"{describe_visits(plan.cells, spec.rounds)} ({baselines} sequential baselines), repeat {spec.repeat}, "
          f"warmup {spec.warmup}, seed {spec.seed}: estimated {fmt_minutes(total_estimate(plan.cells, estimates))}")


def _start(args: argparse.Namespace, console: Console) -> lifecycle.Pending:
    planned = lifecycle.plan_run(_spec(args), _results(args), args.run_id)
    size = describe_visits(planned.visits, planned.spec.rounds)
    console.print(f"parbench sweep: {size}; calibrating this machine ...")
    pending = lifecycle.start(planned)
    for note in planned.plan.notes:
        console.print(f"[yellow]note:[/] {note}")
    console.print(f"run {pending.store.path}: estimated {fmt_minutes(pending.estimate_s)}")
    return pending


def _resume(args: argparse.Namespace, console: Console) -> lifecycle.Pending:
    pending = lifecycle.resume(_resume_target(args))
    if pending.torn_kept is not None:
        console.print(f"[yellow]note:[/] dropped a half-written last record (the file as it was: {pending.torn_kept})")
    total = pending.done_before + len(pending.todo)
    console.print(f"run {pending.store.path}: {pending.done_before} of {total} visits done, {len(pending.todo)} to go")
    return pending


def _measure(pending: lifecycle.Pending) -> tuple[int | None, int]:
    """Measure with a progress display: (the exit status when interrupted, else None; visits measured again)."""
    from parbench.runner.progress import SweepProgress

    progress = SweepProgress(pending.todo, pending.estimates, wide_console(stderr=True), pending.done_before)
    try:
        with progress:
            return None, lifecycle.measure(pending, progress)
    except Interrupted as exc:
        store = pending.store
        print(f"parbench: interrupted; {progress.done} of {progress.total} cells are recorded in {store.path}. "
              f"Finish the run with: parbench sweep --results {store.path.parent} --resume {store.run_id}",
              file=sys.stderr)
        return exc.exit_code, progress.postponed


def _conclude(store: RunStore, console: Console, remeasured: int) -> int:
    """The summary tables, then RUN/report.html, both from one analysis; 1 when a cell failed."""
    from parbench.report.terminal import render

    if remeasured:
        console.print(f"{remeasured} visit(s) ran while the machine was slow or shared and were measured again")
    done = lifecycle.conclude(store.path)
    render(console, done.summary, done.trust)
    console.print("cells: " + (", ".join(f"{n} {s}" for s, n in sorted(done.statuses.items())) or "none"))
    console.print(f"run folder: {store.path}")
    if done.report_path is not None:
        console.print(f"report: {done.report_path}")
    else:
        print(f"parbench: report not written ({done.report_error}); the run is complete: parbench report "
              f"{store.path}", file=sys.stderr)
    return 1 if done.failed else 0


def main(args: argparse.Namespace) -> int:
    console = wide_console()
    if args.resume is None and args.dry_run:
        _print_plan(_spec(args))
        return 0
    pending = _resume(args, console) if args.resume is not None else _start(args, console)
    interrupted, remeasured = _measure(pending)
    return interrupted if interrupted is not None else _conclude(pending.store, console, remeasured)
