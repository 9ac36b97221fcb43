"""`parbench run`: measure one cell in this process and show every repeat, checked against the answer."""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Callable
from dataclasses import replace

from rich.console import Console
from rich.markup import escape

from parbench import registry
from parbench.commands.common import (
    add_function_flags,
    add_option_flags,
    add_param_flags,
    function_from,
    options_from,
    params_from,
)
from parbench.cpus import usable_cpus
from parbench.errors import StrategyError, UserError
from parbench.params import parse_int
from parbench.results.interpreter import GIL_SETTINGS
from parbench.results.schema import Cell, Record, Sample
from parbench.runner.cells import make_cell
from parbench.runner.environments import resolve
from parbench.runner.measure import measure
from parbench.runner.sweep import measure_under
from parbench.units import fmt_duration

NAME = "run"
HELP = "measure one workload x strategy x workers cell in this process; exit 1 if any result is WRONG"
SHOWN_PHASES = ("spawn", "scatter", "compute", "gather")
MAX_REPEAT = 10_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-w", "--workload", default="array-sum", help="workload name (default: array-sum)")
    parser.add_argument("-s", "--strategy", default="sequential", help="strategy name (default: sequential)")
    parser.add_argument("-n", "--workers", help="worker count (default: 1 for sequential, else usable CPUs)")
    parser.add_argument("--start-method", help="fork, spawn or forkserver (process strategies; default: "
                                               "the platform's)")
    parser.add_argument("--repeat", default="5", help="timed repeats (default: 5)")
    parser.add_argument("--warmup", default="1", help="repeats run and checked first, not timed (default: 1)")
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    parser.add_argument("--python", help="measure under this interpreter (3.13, 3.13t or a path), in a probe with "
                                         "its own environment (see README: Beyond the GIL)")
    parser.add_argument("--gil", choices=GIL_SETTINGS,
                        help="with a free-threaded --python: PYTHON_GIL=1 (on) or 0 (off)")
    parser.add_argument("--envs", metavar="DIR", help="where interpreters' environments live "
                                                      "(default: ~/.cache/parbench/envs)")
    add_param_flags(parser)
    add_option_flags(parser)
    add_function_flags(parser)


def _counts(args: argparse.Namespace) -> tuple[int, int, int]:
    repeat = parse_int(args.repeat, "--repeat")
    warmup = parse_int(args.warmup, "--warmup")
    if not 1 <= repeat <= MAX_REPEAT:
        raise UserError(f"--repeat must be between 1 and {MAX_REPEAT}, got {repeat}")
    if not 0 <= warmup <= MAX_REPEAT:
        raise UserError(f"--warmup must be between 0 and {MAX_REPEAT}, got {warmup}")
    if args.workers is not None:
        workers = parse_int(args.workers, "--workers")
    else:
        workers = 1 if args.strategy == "sequential" else len(usable_cpus())
    return repeat, warmup, workers


def build_cell(args: argparse.Namespace) -> tuple[Cell, int, int]:
    repeat, warmup, workers = _counts(args)
    workload = function_from(args) or args.workload
    cell = make_cell(workload, params_from(args), args.strategy, workers, args.start_method,
                     options_from(args))
    if getattr(args, "python", None) is not None:
        found = resolve(args.python, "--python")
        if args.gil and not found.free_threaded:
            raise UserError(f"--gil applies to free-threaded builds only; Python {found.name()} ({found.path}) "
                            "has the GIL")
    elif getattr(args, "gil", None):
        raise UserError("--gil needs --python (a free-threaded build, such as 3.13t)")
    return replace(cell, python=getattr(args, "python", None), gil=getattr(args, "gil", None)), repeat, warmup


def _row(sample: Sample, workers: int) -> str:
    phases = "  ".join(f"{fmt_duration(sample.phases.get(p)):>9}" for p in SHOWN_PHASES)
    util = sample.cpu_ns / (sample.wall_ns * workers) if sample.wall_ns else 0.0
    check = "[green]OK[/]" if sample.ok else "[bold red]WRONG[/]"
    label = "warmup" if sample.warmup else f"#{sample.index + 1}"
    return (f"{label:>6}  {fmt_duration(sample.wall_ns):>9}  {fmt_duration(sample.cpu_ns):>9}  {util:>5.0%}  "
            f"{phases}  {sample.result!s:>22}  {check}")


def _header() -> str:
    phases = "  ".join(f"{p:>9}" for p in SHOWN_PHASES)
    return f"{'repeat':>6}  {'wall':>9}  {'cpu':>9}  {'util':>5}  {phases}  {'result':>22}  check"


def _summary(record: Record) -> str:
    walls = [s.wall_ns for s in record.timed]
    median = statistics.median(walls) if walls else None
    verdict = {"OK": "[green]OK[/]", "WRONG": f"[bold red]WRONG[/] ({len(record.wrong)} repeat(s) off)"}.get(
        record.status, f"[bold red]{record.status}[/]")
    return (f"median {fmt_duration(median)} over {len(walls)} repeat(s) | setup {fmt_duration(record.setup_ns)}"
            f" | teardown {fmt_duration(record.teardown_ns)} | expected {record.expected} | {verdict}"
            + _paired(record))


def _paired(record: Record) -> str:
    """The speedup over the sequential reference paired with each repeat (runner.measure), with its CI."""
    refs = {s.index: s.wall_ns for s in record.timed_reference}
    ratios = [refs[s.index] / s.wall_ns for s in record.timed if s.index in refs and s.wall_ns]
    if not ratios or record.status != "OK":
        return ""
    import numpy as np

    from parbench.analysis.stats import median_ci

    low, high = median_ci(np.array(ratios))
    return (f"\npaired speedup vs sequential {statistics.median(ratios):.2f}x (95% CI {low:.2f}-{high:.2f}) over "
            f"{len(ratios)} pair(s), {record.contaminated or 0} disturbed by other tenants")


def _measure(cell: Cell, repeat: int, warmup: int, on_sample: Callable[[Sample], None] | None) -> Record:
    """measure(), with a plugin's unexpected exception blamed on the plugin (exit 1), not on parbench (exit 3)."""
    try:
        return measure(cell, repeat, warmup, on_sample)
    except Exception as exc:
        origin = registry.plugin_origin(cell.strategy, cell.workload)
        if origin is None or isinstance(exc, UserError | StrategyError):
            raise
        raise StrategyError(f"{origin} raised {type(exc).__name__}: {exc}") from exc


def main(args: argparse.Namespace) -> int:
    cell, repeat, warmup = build_cell(args)
    console = Console(highlight=False)
    # Under another interpreter, in a probe (its environment built first): the samples come back with the record.
    measured = measure_under(cell, repeat, warmup, args.envs) if cell.python is not None else None
    on_sample = None
    if not args.json:
        console.print(f"[bold]{escape(cell.label())}[/]")
        console.print(_header())
        on_sample = lambda s: console.print(_row(s, cell.workers))  # noqa: E731
    record = measured or _measure(cell, repeat, warmup, on_sample)
    if measured is not None and on_sample is not None:
        for sample in record.samples:
            on_sample(sample)
    if record.status == "UNAVAILABLE":
        raise UserError(f"{cell.strategy} cannot run here: {record.error}")
    if args.json:
        print(json.dumps(record.to_dict(), indent=2))
    else:
        console.print(_summary(record))
        if record.error:
            console.print(f"[red]error:[/] {escape(record.error)}")
    return 0 if record.status == "OK" else 1
