"""Measuring how fast the machine ran during each visit, and what the sweep and the statistics do with it."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from parbench.analysis.stats import steady_visits, summarize
from parbench.results.meta import RunMeta
from parbench.results.schema import SLOW_MACHINE, Cell, Record, Sample
from parbench.results.store import RunStore
from parbench.results.tidy import frame
from parbench.runner import sweep
from parbench.runner.canary import canary_ns, slowdown
from parbench.runner.plan import PlannedCell
from parbench.runner.sweep import MAX_REMEASURES, Limits, Pace, run_sweep

CELL = Cell("array-sum", {"size": 10, "kernel": "python", "fill": "arange"}, "sequential", 1)


def _record(walls: list[int], status: str = "OK", canary: int | None = 1000, visit: int = 0,
            slow: float | None = None) -> Record:
    samples = tuple(Sample(i, w, w, {"compute": w}, 45, status == "OK") for i, w in enumerate(walls))
    return Record(CELL, status, 45, samples, family="sequential", canary_ns=canary, visit=visit,  # type: ignore[arg-type]
                  slowdown=slow)


def test_canary_times_each_cpu_and_restores_the_affinity() -> None:
    """The canary is a positive time, and the process keeps the CPUs it had before."""
    before = os.sched_getaffinity(0)
    assert canary_ns(sorted(before)[:1]) > 0
    assert os.sched_getaffinity(0) == before


def test_slowdown_is_relative_to_the_best_and_never_below_one() -> None:
    """2000 ns against a best of 1000 is 2x; faster than the best or unknown is 1.0."""
    assert slowdown(2000, 1000) == 2.0
    assert slowdown(900, 1000) == 1.0
    assert slowdown(None, 1000) == slowdown(2000, None) == 1.0


def test_pace_postpones_a_slow_ok_visit_a_bounded_number_of_times() -> None:
    """A visit measured at 2x is put back at most MAX_REMEASURES times; a fast or failed one never is."""
    pace = Pace(best={(1, None, None): 1000}, budget=10)
    planned = PlannedCell(CELL, "sequential")
    slow = _record([5], canary=2000)
    decisions = [bool(pace.postpone(planned, slow, pace.slowdown(slow))) for _ in range(MAX_REMEASURES + 1)]
    assert decisions == [True] * MAX_REMEASURES + [False]
    assert not pace.postpone(PlannedCell(CELL, "sequential", visit=1), _record([5], canary=1100), 1.1)
    assert not pace.postpone(PlannedCell(CELL, "sequential", visit=2), _record([5], "WRONG", canary=2000), 2.0)


def test_pace_stops_postponing_when_its_budget_is_spent() -> None:
    """A machine that stays slow is the new normal: once the budget is used, slow visits are kept."""
    pace = Pace(best={(1, None, None): 1000}, budget=1)
    assert pace.postpone(PlannedCell(CELL, "sequential", visit=0), _record([5], canary=2000), 2.0)
    assert not pace.postpone(PlannedCell(CELL, "sequential", visit=1), _record([5], canary=2000), 2.0)


def test_a_faster_canary_becomes_the_yardstick() -> None:
    """The best canary of the run is the machine's own speed, whatever the calibration said."""
    pace = Pace(best={(1, None, None): 3000})
    assert pace.slowdown(_record([5], canary=1000)) == 1.0
    assert pace.best == {(1, None, None): 1000} and pace.slowdown(_record([5], canary=2000)) == 2.0


def test_each_cpu_count_has_its_own_yardstick() -> None:
    """Two vCPUs at different speeds: a two-CPU visit is judged against two-CPU visits, not one-CPU ones."""
    pace = Pace()
    assert pace.slowdown(replace(_record([5], canary=1000), cpus=(0,))) == 1.0
    assert pace.slowdown(replace(_record([5], canary=1700), cpus=(0, 1))) == 1.0
    assert pace.slowdown(replace(_record([5], canary=3400), cpus=(0, 1))) == 2.0


def test_each_interpreter_has_its_own_yardstick() -> None:
    """The canary is a Python loop: a slower interpreter's visits are judged against its own, not as a slow machine."""
    pace = Pace()
    assert pace.slowdown(_record([5], canary=1000)) == 1.0
    under_313 = replace(_record([5], canary=1400), cell=replace(CELL, python="3.13"))
    assert pace.slowdown(under_313) == 1.0
    assert pace.slowdown(replace(under_313, canary_ns=2800)) == 2.0


def test_no_postponing_during_a_slow_phase() -> None:
    """When most recent visits were slow, the retry would be slow too: the visit is kept."""
    pace = Pace(best={(1, None, None): 1000}, budget=100)
    slow = _record([5], canary=2000)
    for _ in range(7):
        pace.slowdown(slow)
    assert not pace.postpone(PlannedCell(CELL, "sequential", visit=9), slow, 2.0)


def test_statistics_time_a_cell_by_its_steady_visits() -> None:
    """A cell with a visit at 2x and one at its best is timed by the steady one, and says one was dropped."""
    steady = _record([100, 101, 102], visit=0, slow=1.0)
    slowed = _record([200, 201, 202], visit=1, slow=2.0)
    df = frame("r", [steady, slowed])
    assert set(steady_visits(df)["visit"]) == {0}
    row = summarize(df).iloc[0]
    assert row["median_ns"] == 101 and row["slow_visits_dropped"] == 1 and row["slowdown"] == 1.0


def test_a_cell_with_only_slow_visits_keeps_them_and_shows_how_slow() -> None:
    """Nothing better exists: every visit is used, and the summary carries the slowdown."""
    df = frame("r", [_record([200, 210], visit=0, slow=1.9), _record([220, 230], visit=1, slow=2.1)])
    row = summarize(df).iloc[0]
    assert row["n"] == 4 and row["slowdown"] == 2.1 and row["slow_visits_dropped"] == 0
    assert row["slowdown"] > SLOW_MACHINE


def test_a_failed_slow_visit_is_never_dropped() -> None:
    """A WRONG result measured on a slow machine is still a WRONG result."""
    df = frame("r", [_record([100], visit=0, slow=1.0), _record([200], "WRONG", visit=1, slow=2.0)])
    assert summarize(df).iloc[0]["status"] == "WRONG"


class _Observer:
    def __init__(self) -> None:
        self.postponed: list[str] = []
        self.finished: list[Record] = []

    def cell_started(self, planned: PlannedCell) -> None:
        return None

    def cell_postponed(self, planned: PlannedCell, why: str) -> None:
        self.postponed.append(why)

    def cell_finished(self, planned: PlannedCell, record: Record) -> None:
        self.finished.append(record)


def test_the_driver_measures_a_slow_visit_again_after_the_others(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    """Scripted probes (the first visit's canary at 2.5x): that visit goes to the back of the queue, is
    measured again, and only its second record is stored, with its slowdown."""
    canaries = iter([2500, 1000, 1000])
    every_cpu = tuple(sorted(os.sched_getaffinity(0)))  # the calibration's canary held them all
    monkeypatch.setattr(sweep, "measure_isolated",
                        lambda planned, *_: replace(_record([5], canary=next(canaries)), cpus=every_cpu))
    store = RunStore.check_new(tmp_path, "r")
    store.create(RunMeta(schema_version=1))
    visits = [PlannedCell(CELL, "sequential", visit=0), PlannedCell(CELL, "sequential", visit=1)]
    observer = _Observer()
    run_sweep(visits, store, Limits(1, 0, 60), observer, reference_canary=1000)
    assert observer.postponed == ["the machine ran 2.50x slower than its best"]
    assert [(r.visit, r.slowdown) for r in store.records()] == [(1, 1.0), (0, 1.0)]
    assert all(r.canary_ns == 1000 for r in store.records())
