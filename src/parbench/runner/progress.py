"""The sweep's progress display: a rich bar with the current cell and an ETA on a terminal, one line per
finished cell otherwise (logs, CI). The bar advances by each cell's estimated duration, so the ETA weighs
a long cell more than a short one.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from parbench.results.schema import Record
from parbench.runner.plan import PlannedCell
from parbench.units import fmt_duration

STATUS_STYLE = {"OK": "green", "WRONG": "bold red", "TIMEOUT": "red", "CRASHED": "red", "ERROR": "red",
                "UNAVAILABLE": "yellow"}


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0][:160] if (text or "").strip() else ""


class SweepProgress:
    """An Observer for run_sweep (see runner.sweep)."""

    def __init__(self, cells: Sequence[PlannedCell], estimates: Mapping[str, float], console: Console,
                 done_before: int = 0) -> None:
        self.console = console
        self.estimates = estimates
        self.total = len(cells) + done_before
        self.done = done_before
        self.live = console.is_terminal
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console,
                                 transient=True, disable=not self.live)
        self.task: TaskID = self.progress.add_task("", total=max(1e-9, sum(estimates.values())))

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()

    def cell_started(self, planned: PlannedCell) -> None:
        self.progress.update(self.task, description=f"[{self.done + 1}/{self.total}] {escape(planned.cell.label())}")

    def cell_finished(self, planned: PlannedCell, record: Record) -> None:
        self.done += 1
        self.progress.advance(self.task, self.estimates.get(planned.cell.key(), 0.0))
        if self.live and record.status in ("OK", "UNAVAILABLE"):
            return
        walls = [s.wall_ns for s in record.timed]
        median = fmt_duration(statistics.median(walls)) if walls else "-"
        style = STATUS_STYLE.get(record.status, "red")
        why = escape(_first_line(record.error))
        self.console.print(f"[{self.done:>{len(str(self.total))}}/{self.total}] [{style}]{record.status:<11}[/]"
                           f" {median:>9}  {escape(planned.cell.label())}" + (f"  [dim]{why}[/]" if why else ""),
                           highlight=False)
