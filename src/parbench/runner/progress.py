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
from rich.table import Column

from parbench.results.schema import FAILED, Cell, Record
from parbench.runner.plan import PlannedCell
from parbench.units import fmt_count, fmt_duration

# Width taken by the counter, bar, percentage, elapsed time, "ETA" and remaining time, with their gaps.
FIXED_COLUMNS = 9 + 20 + 4 + 7 + 3 + 7 + 7
STATUS_STYLE = {"OK": "green", "WRONG": "bold red", "TIMEOUT": "red", "CRASHED": "red", "ERROR": "red",
                "UNAVAILABLE": "yellow"}


def _compact(cell: Cell) -> str:
    """Strategy first, then the workload and its parameter values: what fits beside a bar."""
    how = f" {cell.start_method}" if cell.start_method else ""
    values = " ".join(fmt_count(v) if isinstance(v, int) else str(v) for v in cell.params.values())
    return f"{cell.strategy} x{cell.workers}{how} | {cell.workload} {values}"


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
        self.postponed = 0
        self.live = console.is_terminal
        def fixed(width: int) -> Column:
            return Column(min_width=width, no_wrap=True)

        # The cell's label comes last, cut to what the other columns leave (_fit): on a narrow terminal it is
        # the one cut short, never the bar or the ETA.
        self.progress = Progress(TextColumn("{task.fields[count]}", table_column=fixed(9)),
                                 BarColumn(bar_width=20, table_column=fixed(20)),
                                 TextColumn("{task.percentage:>3.0f}%", table_column=fixed(4)),
                                 TimeElapsedColumn(table_column=fixed(7)), TextColumn("ETA"),
                                 TimeRemainingColumn(table_column=fixed(7)),
                                 TextColumn("{task.description}"),
                                 console=console, transient=True, disable=not self.live)
        total = sum(estimates.get(c.cell.key(), 0.0) for c in cells)  # per visit: a cell may have several
        self.task: TaskID = self.progress.add_task("", total=max(1e-9, total), count="")

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.progress.stop()

    def cell_started(self, planned: PlannedCell) -> None:
        self.progress.update(self.task, description=escape(self._fit(_compact(planned.cell))),
                             count=f"[{self.done + 1}/{self.total}]")

    def _fit(self, label: str) -> str:
        room = max(12, self.console.width - FIXED_COLUMNS)
        return label if len(label) <= room else label[: room - 1] + "…"

    def cell_postponed(self, planned: PlannedCell, why: str) -> None:
        """The visit ran while the machine was slow or shared (`why`): measured again at the end of the queue."""
        self.postponed += 1
        self.total += 1
        estimate = self.estimates.get(planned.cell.key(), 0.0)
        self.progress.update(self.task, total=(self.progress.tasks[0].total or 0.0) + estimate, advance=estimate)
        if self.live:  # the counter grows by one; the sweep's summary says how many visits were measured again
            return
        self.console.print(f"[dim]{escape(why)} during {escape(planned.label())}: measuring it again later[/]",
                           highlight=False, soft_wrap=True)

    def cell_finished(self, planned: PlannedCell, record: Record) -> None:
        self.done += 1
        self.progress.advance(self.task, self.estimates.get(planned.cell.key(), 0.0))
        if self.live and record.status not in FAILED:
            return
        walls = [s.wall_ns for s in record.timed]
        median = fmt_duration(statistics.median(walls)) if walls else "-"
        style = STATUS_STYLE.get(record.status, "red")
        why = escape(_first_line(record.error))
        self.console.print(f"[{self.done:>{len(str(self.total))}}/{self.total}] [{style}]{record.status:<11}[/]"
                           f" {median:>9}  {escape(planned.label())}" + (f"  [dim]{why}[/]" if why else ""),
                           highlight=False, soft_wrap=True)  # a log line: grep finds it whole


class QuietProgress:
    """An Observer that shows nothing (the API's progress=False): it only counts, as SweepProgress does."""

    def __init__(self) -> None:
        self.done = 0
        self.postponed = 0

    def cell_started(self, planned: PlannedCell) -> None:
        return None

    def cell_postponed(self, planned: PlannedCell, why: str) -> None:
        self.postponed += 1

    def cell_finished(self, planned: PlannedCell, record: Record) -> None:
        self.done += 1
