"""The sweep's progress display: a line per event in logs, a bar and one summary on a terminal."""

from __future__ import annotations

import io

from rich.console import Console

from parbench.results.schema import Cell, Record, Sample
from parbench.runner.plan import PlannedCell
from parbench.runner.progress import SweepProgress

CELL = Cell("array-sum", {"size": 10, "kernel": "python", "fill": "arange"}, "sequential", 1)


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=120, color_system=None), out


def _events(progress: SweepProgress) -> None:
    planned = PlannedCell(CELL, "sequential")
    sample = Sample(0, 5_000_000, 5_000_000, {"compute": 5_000_000}, 45, True)
    with progress:
        progress.cell_started(planned)
        progress.cell_postponed(planned, "the machine ran 2.10x slower than its best")
        progress.cell_started(planned)
        progress.cell_finished(planned, Record(CELL, "OK", 45, (sample,), family="sequential"))


def test_a_log_gets_one_line_per_event() -> None:
    """Without a terminal (CI logs): the re-measured visit and the finished cell each get a line."""
    console, out = _console(terminal=False)
    progress = SweepProgress([PlannedCell(CELL, "sequential")], {CELL.key(): 0.01}, console)
    _events(progress)
    text = out.getvalue()
    assert len(text.splitlines()) == 2  # one line each, never wrapped at the console's width
    assert "2.10x slower than its best" in text and "measuring it again later" in text
    assert "[1/2] OK" in text and "5 ms" in text and progress.postponed == 1


def test_a_terminal_keeps_the_bar_and_counts_re_measured_visits() -> None:
    """On a terminal a slow phase would print a line per visit (31 in one quick run): the bar's counter grows
    instead, and the count is left for the sweep's summary."""
    console, out = _console(terminal=True)
    progress = SweepProgress([PlannedCell(CELL, "sequential")], {CELL.key(): 0.01}, console)
    _events(progress)
    assert "measuring it again" not in out.getvalue()
    assert progress.postponed == 1 and progress.total == 2 and progress.done == 1
