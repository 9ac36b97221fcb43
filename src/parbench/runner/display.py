"""What a sweep says on a console, whoever runs it (`parbench sweep`, `parbench.sweep(progress=True)`): its plan
(a dry run), its start or resumption, its progress (progress.SweepProgress), an interruption, and its conclusion
(the trust line and the tables of report.terminal, the cell counts, where the run and its report are)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.console import Console

from parbench.interrupts import Interrupted
from parbench.runner.estimate import total_estimate
from parbench.runner.plan import Plan, describe_visits
from parbench.runner.progress import SweepProgress
from parbench.runner.spec import SweepSpec
from parbench.units import fmt_duration, fmt_minutes

if TYPE_CHECKING:
    from parbench.runner.lifecycle import Conclusion, Pending, Planned


def print_plan(plan: Plan, estimates: Mapping[str, float], spec: SweepSpec) -> None:
    """A dry run: every visit with its estimate and why it cannot run, the planner's notes, the total."""
    width = len(str(len(plan.cells)))
    for i, planned in enumerate(plan.cells, 1):
        extra = f"  UNAVAILABLE: {planned.unavailable}" if planned.unavailable else ""
        print(f"{i:>{width}}  {fmt_duration(estimates[planned.cell.key()] * 1e9):>9}  {planned.label()}{extra}")
    for note in plan.notes:
        print(f"note: {note}")
    baselines = sum(1 for c in plan.cells if c.cell.strategy == "sequential" and c.visit == 0)
    print(f"{describe_visits(plan.cells, spec.rounds)} ({baselines} sequential baselines), repeat {spec.repeat}, "
          f"warmup {spec.warmup}, seed {spec.seed}: estimated {fmt_minutes(total_estimate(plan.cells, estimates))}")


class SweepDisplay:
    """The console side of a run's lifecycle (runner.lifecycle): one method per step it reports."""

    def __init__(self, console: Console, progress_console: Console) -> None:
        self.console = console
        self.progress_console = progress_console

    def calibrating(self, planned: Planned) -> None:
        size = describe_visits(planned.visits, planned.spec.rounds)
        self.console.print(f"parbench sweep: {size}; calibrating this machine ...")

    def started(self, planned: Planned, pending: Pending) -> None:
        for note in planned.plan.notes:
            self.console.print(f"[yellow]note:[/] {note}")
        self.console.print(f"run {pending.store.path}: estimated {fmt_minutes(pending.estimate_s)}")

    def resumed(self, pending: Pending) -> None:
        if pending.torn_kept is not None:
            self.console.print(f"[yellow]note:[/] dropped a half-written last record (the file as it was: "
                               f"{pending.torn_kept})")
        total, todo = pending.done_before + len(pending.todo), len(pending.todo)
        self.console.print(f"run {pending.store.path}: {pending.done_before} of {total} visits done, {todo} to go")

    def measure(self, pending: Pending) -> int:
        """Measure with a progress bar; returns the visits measured again. An interruption says how many cells are
        recorded and how to resume, then goes on up (Interrupted)."""
        from parbench.runner import lifecycle

        progress = SweepProgress(pending.todo, pending.estimates, self.progress_console, pending.done_before)
        try:
            with progress:
                remeasured = lifecycle.measure(pending, progress)
        except Interrupted:
            store = pending.store
            print(f"parbench: interrupted; {progress.done} of {progress.total} cells are recorded in {store.path}. "
                  f"Finish the run with: parbench sweep --results {store.path.parent} --resume {store.run_id}",
                  file=sys.stderr)
            raise
        if remeasured:
            self.console.print(f"{remeasured} visit(s) ran while the machine was slow or shared and were measured "
                               "again")
        return remeasured

    def concluded(self, done: Conclusion) -> None:
        """The trust line and tables, the cell counts, the run folder and the report (or why it is missing)."""
        from parbench.report.terminal import render

        render(self.console, done.summary, done.trust)
        counts = ", ".join(f"{n} {s}" for s, n in sorted(done.statuses.items())) or "none"
        self.console.print(f"cells: {counts}")
        self.console.print(f"run folder: {done.path}")
        if done.report_path is not None:
            self.console.print(f"report: {done.report_path}")
        else:
            print(f"parbench: report not written ({done.report_error}); the run is complete: parbench report "
                  f"{done.path}", file=sys.stderr)
