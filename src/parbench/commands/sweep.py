"""`parbench sweep`: measure workloads x sizes x strategies x workers, each cell in a fresh pinned probe.

Flow: spec (preset, --config, flags) -> plan (cells, shuffled) -> validate the run folder -> calibrate ->
meta.json -> one probe per cell, each record appended as it ends -> summary tables. Bad input is found
before anything is written; Ctrl-C keeps every finished cell and says how to --resume.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from parbench import __version__
from parbench.commands.common import add_function_flags, function_from, key_value, wide_console
from parbench.cpus import usable_cpus
from parbench.errors import UserError
from parbench.interrupts import Interrupted, interruptible
from parbench.results.schema import FAILED, READABLE_VERSIONS
from parbench.results.store import RunStore
from parbench.runner.estimate import Costs, estimate_cell, total_estimate
from parbench.runner.measure import now_iso
from parbench.runner.plan import PlannedCell, make_plan
from parbench.runner.presets import PRESETS
from parbench.runner.spec import ISOLATIONS, ParamFlag, SweepSpec, build_spec, spec_from_dict
from parbench.runner.sweep import Limits, run_sweep
from parbench.units import fmt_duration

if TYPE_CHECKING:
    from parbench.report.model import Report

NAME = "sweep"
HELP = "measure workloads x sizes x strategies x workers, each cell in a fresh pinned process; resumable"
SPEC_FLAGS = ("workloads", "strategies", "workers", "start_methods", "repeat", "warmup", "rounds", "timeout",
              "seed", "isolation", "quiet_wait")
PARAM_FLAGS = (("sizes", "size"), ("kernels", "kernel"), ("delay", "delay"))
DEFAULT_RESULTS = Path("results")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to measure (a preset, then --config, then these flags)")
    what.add_argument("--preset", help=f"built-in sweep: {', '.join(PRESETS)} (default: default)")
    what.add_argument("--config", type=Path, metavar="FILE", help="a sweep TOML file (see README: Sweeps)")
    what.add_argument("--workloads", help="comma-separated workload names")
    what.add_argument("--strategies", help="comma-separated strategy names or families: processes, "
                                           "distributed, family:threads (threads alone is the strategy)")
    what.add_argument("--sizes", action="append", metavar="[WORKLOAD=]N,...",
                      help="sizes (1e6, 10_000_000); WORKLOAD= sets one workload's; repeatable")
    what.add_argument("--workers", help="1,2,4 or 1..max (powers of two up to the usable CPUs, and that count)")
    what.add_argument("--start-methods", dest="start_methods",
                      help="fork, spawn, forkserver or default; comma-separated")
    what.add_argument("--kernels", action="append", metavar="[WORKLOAD=]K,...", help="array-sum kernels: python, numpy")
    what.add_argument("--delay", action="append", metavar="[WORKLOAD=]S,...", help="delayed-square seconds per item")
    what.add_argument("--param", action="append", type=key_value, default=[], metavar="KEY=V,...",
                      help="any other workload parameter, to every workload that takes it; repeatable")
    how = parser.add_argument_group("how to measure")
    how.add_argument("--repeat", help="timed repeats per visit of a cell")
    how.add_argument("--warmup", help="untimed (but checked) repeats before them, per visit")
    how.add_argument("--rounds", help="visits per cell, each in its own probe, spread over the run (so a burst "
                                      "of load on the machine lands on one visit, not on every repeat)")
    how.add_argument("--timeout", help="seconds a cell may take before its probe is killed (TIMEOUT)")
    how.add_argument("--quiet-wait", dest="quiet_wait", metavar="SECONDS",
                     help="before each visit, wait up to SECONDS until its CPUs are idle (other tenants' load "
                          "under 10%%); the wait is recorded per visit (default: 0, never wait)")
    how.add_argument("--seed", help="seed of the shuffled cell order (default: random, recorded)")
    how.add_argument("--isolation", choices=ISOLATIONS, help="fork (default): each probe forked from a probe server "
                     "with parbench loaded; exec: a new interpreter per cell (slower; new memory layout each time)")
    where = parser.add_argument_group("where")
    where.add_argument("--results", type=_folder, help="results folder (default: results)")
    where.add_argument("--run-id", help="name of the run folder (default: the date and time, YYYYmmdd-HHMMSS)")
    where.add_argument("--resume", metavar="RUN", help="measure the cells a run is missing (its spec is kept): its id "
                                                     "in the results folder, or the path of its folder")
    where.add_argument("--dry-run", action="store_true",
                       help="print the planned cells and an estimate; measure nothing")
    add_function_flags(parser)


def _folder(text: str) -> Path:
    """A folder argument: an empty one would silently mean the current directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty string")
    return Path(text)


def _results(args: argparse.Namespace) -> Path:
    return args.results if args.results is not None else DEFAULT_RESULTS


def _resume_target(args: argparse.Namespace) -> tuple[Path, str]:
    """The results folder and run id that --resume names: an id (in --results) or a run folder's path."""
    given = str(args.resume)
    if "/" not in given and os.sep not in given:
        return _results(args), given
    path = Path(given)
    if args.results is not None and path.parent.resolve() != args.results.resolve():
        raise UserError(f"--resume {given} is not in --results {args.results}: give one of them")
    return path.parent, path.name


def _param_flags(args: argparse.Namespace) -> list[ParamFlag]:
    flags = []
    for attr, name in PARAM_FLAGS:
        for text in getattr(args, attr) or []:
            workload, sep, values = text.rpartition("=")
            flags.append(ParamFlag(f"--{attr}", name, tuple(values.split(",")), workload.strip() if sep else None))
    flags += [ParamFlag(f"--param {key}", key, tuple(values.split(","))) for key, values in args.param]
    return flags


def _spec(args: argparse.Namespace) -> SweepSpec:
    values = {flag.replace("_", "-"): getattr(args, flag) for flag in SPEC_FLAGS}
    function = function_from(args)  # its name joins --workloads (or is the only workload)
    if function is not None:
        values["workloads"] = ",".join(w for w in (args.workloads, function) if w)
    return build_spec(args.preset, args.config, values, _param_flags(args))


def _estimates(cells: Sequence[PlannedCell], limits: Limits, calibration: Mapping[str, Any] | None) -> dict[str, float]:
    """Seconds per cell, from this machine's calibration when there is one."""
    costs = Costs.for_sweep(limits.isolation, calibration)
    cpus = len(usable_cpus())
    return {c.cell.key(): estimate_cell(c, limits.repeat, limits.warmup, cpus, costs) for c in cells}


def _calibrate(cells: Sequence[PlannedCell], spec: SweepSpec) -> tuple[dict[str, Any], dict[str, float]]:
    """Calibrate this machine (a second or so, as loaded as it is now) and estimate each cell from it."""
    from parbench.runner.calibrate import calibrate

    calibration = calibrate(spec.start_methods)
    return calibration, _estimates(cells, _limits(spec), calibration)


def _limits(spec: SweepSpec) -> Limits:
    return Limits(spec.repeat, spec.warmup, spec.timeout, spec.isolation, spec.quiet_wait)


def _print_plan(cells: Sequence[PlannedCell], notes: Sequence[str], spec: SweepSpec) -> None:
    _, estimates = _calibrate(cells, spec)  # the same calibration as a real run
    width = len(str(len(cells)))
    for i, planned in enumerate(cells, 1):
        extra = f"  UNAVAILABLE: {planned.unavailable}" if planned.unavailable else ""
        print(f"{i:>{width}}  {fmt_duration(estimates[planned.cell.key()] * 1e9):>9}  {planned.label()}{extra}")
    for note in notes:
        print(f"note: {note}")
    baselines = sum(1 for c in cells if c.cell.strategy == "sequential" and c.visit == 0)
    print(f"{_size(cells, spec.rounds)} ({baselines} sequential baselines), repeat {spec.repeat}, "
          f"warmup {spec.warmup}, seed {spec.seed}: estimated {_minutes(total_estimate(cells, estimates))}")


def _size(visits: Sequence[PlannedCell], rounds: int) -> str:
    """'92 cells' or, with rounds, '92 cells x 2 rounds = 184 visits' (a visit is one probe)."""
    cells = len({v.cell.key() for v in visits})
    return f"{cells} cells" if rounds == 1 else f"{cells} cells x {rounds} rounds = {len(visits)} visits"


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s" if seconds >= 60 else f"{seconds:.0f} s"


def _new_store(args: argparse.Namespace) -> RunStore:
    results = _results(args)
    if args.run_id is not None:
        return RunStore.check_new(results, args.run_id)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("", *(f"-{i}" for i in range(2, 100))):
        if not (results / f"{stamp}{suffix}").exists():
            return RunStore.check_new(results, stamp + suffix)
    raise UserError(f"too many runs named {stamp}-* in {results}")


def _meta(store: RunStore, spec: SweepSpec, cells: Sequence[PlannedCell], notes: Sequence[str],
          calibration: dict[str, Any], estimate_s: float) -> dict[str, Any]:
    from parbench.results.environment import collect

    return {"run_id": store.run_id, "created": now_iso(), "parbench": __version__, "command": sys.argv,
            "spec": spec.to_dict(), "plan": {"cells": [c.to_dict() for c in cells], "notes": list(notes),
                                             "estimate_s": estimate_s},
            "environment": collect(), "calibration": calibration, "resumes": [], "finished": None}


def _start(args: argparse.Namespace, console: Console) -> int:
    spec = _spec(args)
    plan = make_plan(spec)
    if args.dry_run:
        _print_plan(plan.cells, plan.notes, spec)
        return 0
    store = _new_store(args)
    console.print(f"parbench sweep: {_size(plan.cells, spec.rounds)}; calibrating this machine ...", highlight=False)
    calibration, estimates = _calibrate(plan.cells, spec)
    total = total_estimate(plan.cells, estimates)
    store.create(_meta(store, spec, plan.cells, plan.notes, calibration, total))
    for note in plan.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print(f"run {store.path}: estimated {_minutes(total)}", highlight=False)
    return _execute(store, plan.cells, _limits(spec), estimates, console, 0)


def _resume(args: argparse.Namespace, console: Console) -> int:
    given = [f"--{f.replace('_', '-')}" for f in (*SPEC_FLAGS, "preset", "config", "run_id") if getattr(args, f)]
    given += [f"--{attr}" for attr, _ in PARAM_FLAGS if getattr(args, attr)] + (["--param"] if args.param else [])
    given += ["--function"] if args.function else []
    if given or args.dry_run:
        raise UserError(f"--resume continues a run with its own spec: drop {', '.join(given or ['--dry-run'])}")
    store = RunStore.existing(*_resume_target(args))
    meta = store.checked_meta()
    # An older run resumes: its records are migrated on read (schema 1: unpaired), the new ones are paired.
    if meta.get("schema_version") not in READABLE_VERSIONS:
        raise UserError(f"--resume: run {args.resume!r} has schema_version {meta.get('schema_version')!r}; "
                        f"this parbench reads {READABLE_VERSIONS}")
    try:
        cells = [PlannedCell.from_dict(c) for c in meta["plan"]["cells"]]
        limits = _limits(spec_from_dict(meta["spec"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"--resume: {store.path}/meta.json has no usable plan ({exc!r})") from None
    done = {(r.cell.key(), r.visit) for r in store.checked_records()}  # validated before anything is changed
    kept = store.drop_torn_tail()
    if kept is not None:
        console.print(f"[yellow]note:[/] dropped a half-written last record (the file as it was: {kept})",
                      highlight=False)
    todo = [c for c in cells if c.visit_key() not in done]
    meta["resumes"].append({"at": now_iso(), "command": sys.argv, "cells": len(todo)})
    store.write_meta(meta)
    console.print(f"run {store.path}: {len(cells) - len(todo)} of {len(cells)} visits done, {len(todo)} to go",
                  highlight=False)
    estimates = _estimates(todo, limits, meta.get("calibration"))
    return _execute(store, todo, limits, estimates, console, len(cells) - len(todo))


def _execute(store: RunStore, cells: Sequence[PlannedCell], limits: Limits, estimates: dict[str, float],
             console: Console, done_before: int) -> int:
    from parbench.runner.progress import SweepProgress

    t0 = time.monotonic()
    progress = SweepProgress(cells, estimates, wide_console(stderr=True), done_before)
    try:
        with interruptible(), progress:
            run_sweep(cells, store, limits, progress, (store.meta().get("calibration") or {}).get("canary_ns"))
    except Interrupted as exc:
        print(f"parbench: interrupted; {progress.done} of {progress.total} cells are recorded in {store.path}. "
              f"Finish the run with: parbench sweep --results {store.path.parent} --resume {store.run_id}",
              file=sys.stderr)
        return exc.exit_code
    _finish(store, time.monotonic() - t0, progress.postponed)
    if progress.postponed:
        console.print(f"{progress.postponed} visit(s) ran while the machine was slow or shared and were measured again",
                      highlight=False)
    return _conclude(store, console)


def _finish(store: RunStore, elapsed: float, remeasured: int) -> None:
    meta = store.meta()
    meta["finished"] = now_iso()
    part = meta["resumes"][-1] if meta["resumes"] else meta
    part["elapsed_s"] = round(elapsed, 3)
    part["remeasured_visits"] = remeasured  # visits measured again because the machine ran slow
    store.write_meta(meta)


def _conclude(store: RunStore, console: Console) -> int:
    """The summary tables, then RUN/report.html, both from one analysis of the run (its bootstrap CIs are the
    slow part); 1 when a cell failed."""
    report = _analyse(store)
    status = _report(store, console, report)
    _write_report(store, console, report)
    return status


def _analyse(store: RunStore) -> Report | None:
    """The report model of the whole run (resumed parts included); None when it cannot be built: the tables
    then summarize the records alone, and the report step says what went wrong."""
    from parbench.report.model import build
    from parbench.results.reader import open_run

    try:
        return build(open_run(store.path))
    except Exception:  # the measurements are safe on disk whatever the analysis does
        return None


def _report(store: RunStore, console: Console, report: Report | None = None) -> int:
    """The summary tables of the whole run (resumed parts included); 1 when a cell failed."""
    from parbench.tables import render

    if report is not None:
        summary, trust = report.summary, report.trust
    else:
        from parbench.analysis.stats import summarize
        from parbench.analysis.trust import assess
        from parbench.results.store import load

        frame = load(store.path)
        summary = summarize(frame)
        trust = assess(summary, frame)
    render(console, summary, trust)
    statuses = Counter(summary["status"]) if not summary.empty else Counter()
    console.print("cells: " + (", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none"),
                  highlight=False)
    console.print(f"run folder: {store.path}", highlight=False)
    return 1 if any(statuses[s] for s in FAILED) else 0


def _write_report(store: RunStore, console: Console, report: Report | None = None) -> None:
    """RUN/report.html (from `report` when already built). A report that fails loses nothing: the run is
    complete and the exit status still says how its cells went; one line says what happened and how to retry."""
    from parbench.commands.report import write_html

    try:
        path = write_html(store.path, report)
    except Exception as exc:  # the measurements are safe on disk whatever the report does
        reason = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        print(f"parbench: report not written ({reason}); the run is complete: parbench report {store.path}",
              file=sys.stderr)
        return
    console.print(f"report: {path}", highlight=False)


def main(args: argparse.Namespace) -> int:
    console = wide_console()
    if args.resume is not None:
        return _resume(args, console)
    return _start(args, console)
