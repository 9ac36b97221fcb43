"""Physical consistency checks (parbench.analysis.physics): synthetic paired records on both sides of each rule."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

import parbench
from parbench.analysis.scaling import annotate, fits, leader
from parbench.results.schema import Cell, Record, Sample
from parbench.results.tidy import frame

MS = 1_000_000
# Small relative jitter, so that a CI has a width without reaching the next threshold.
JITTER = (0.99, 1.0, 1.01, 1.0, 0.995, 1.005, 1.0)


def _samples(walls: Sequence[float], cpu_share: float) -> tuple[Sample, ...]:
    return tuple(Sample(i, int(w), int(w * cpu_share), {"compute": int(w)}, 1, True) for i, w in enumerate(walls))


def _record(strategy: str, workers: int, speedup: float, util: float = 1.0, ref_util: float = 1.0,
            spread: Sequence[float] = JITTER, cpu_bound: bool | None = True, superlinear: bool = False) -> Record:
    """A cell whose every pair has T_ref / T_cell = speedup x jitter, CPU utilisation `util` per worker."""
    ref = [100 * MS * j for j in JITTER]
    cell = [r / (speedup * s) for r, s in zip(ref, spread, strict=True)]
    family = "sequential" if strategy == "sequential" else "processes"
    return Record(Cell("array-sum", {"size": 1_000_000, "kernel": "python", "fill": "arange"}, strategy, workers),
                  "OK", 1, _samples(cell, util * workers), cpus=tuple(range(workers)), family=family,
                  reference=() if strategy == "sequential" else _samples(ref, ref_util), cpu_bound=cpu_bound,
                  superlinear=superlinear)


def _summary(*records: Record) -> pd.DataFrame:
    base = _record("sequential", 1, 1.0)
    return annotate(parbench.summarize(frame("r", [base, *records])))


def _cell(summary: pd.DataFrame, strategy: str) -> pd.Series:
    return summary[summary["strategy"] == strategy].iloc[0]


def test_a_speedup_above_the_workers_is_suspect_and_one_below_is_not() -> None:
    """2.5x on 2 workers breaks the workers rule; 1.9x does not; the reason carries the figures."""
    summary = _summary(_record("fast", 2, 2.5), _record("fine", 2, 1.9))
    assert _cell(summary, "fast")["status"] == "SUSPECT"
    assert "2.50x above its 2 workers" in _cell(summary, "fast")["suspect"]
    assert _cell(summary, "fine")["status"] == "OK" and _cell(summary, "fine")["suspect"] == ""


def test_the_tolerance_is_the_cells_own_ci() -> None:
    """2.1x on 2 workers: SUSPECT with a tight CI; within its CI (ratios 1.4x-2.9x) it is not."""
    wide = (0.7, 0.8, 1.0, 1.0, 1.2, 1.3, 1.4)
    summary = _summary(_record("tight", 2, 2.1), _record("wide", 2, 2.1, spread=wide))
    assert _cell(summary, "tight")["status"] == "SUSPECT"
    assert _cell(summary, "wide")["status"] == "OK"


def test_a_workload_that_allows_superlinear_speedups_is_not_flagged_for_them() -> None:
    summary = _summary(_record("cache", 2, 2.5, util=1.3, superlinear=True))
    assert _cell(summary, "cache")["status"] == "OK"


def test_a_speedup_above_what_the_cpu_time_allows_is_suspect() -> None:
    """1.8x at 50% utilisation on 2 workers (one CPU's worth) breaks work conservation; at 95% it does not;
    a kernel that waits (not CPU-bound) is not held to it."""
    summary = _summary(_record("gil", 2, 1.8, util=0.5), _record("busy", 2, 1.8, util=0.95),
                       _record("sleepy", 2, 1.8, util=0.1, cpu_bound=False))
    assert _cell(summary, "gil")["status"] == "SUSPECT"
    assert "above what its CPU time allows" in _cell(summary, "gil")["suspect"]
    assert _cell(summary, "busy")["status"] == "OK"
    assert _cell(summary, "sleepy")["status"] == "OK"


def test_one_worker_beating_sequential_beyond_its_ci_is_suspect() -> None:
    """1.3x at one worker is impossible; 1.0x (CI around 1) is not."""
    summary = _summary(_record("one", 1, 1.3), _record("same", 1, 1.0))
    assert "one worker beats sequential" in _cell(summary, "one")["suspect"]
    assert _cell(summary, "same")["status"] == "OK"


def test_a_starved_reference_makes_the_cell_suspect() -> None:
    """A paired reference at 80% of a CPU on a CPU-bound kernel was starved; at 95% it was not."""
    summary = _summary(_record("starved", 2, 1.5, ref_util=0.8), _record("fed", 2, 1.5, ref_util=0.95))
    assert "sequential reference ran at 80%" in _cell(summary, "starved")["suspect"]
    assert _cell(summary, "fed")["status"] == "OK"


def test_a_starved_sequential_cell_is_suspect_itself() -> None:
    summary = annotate(parbench.summarize(frame("r", [_record("sequential", 1, 1.0, util=0.7)])))
    assert _cell(summary, "sequential")["status"] == "SUSPECT"


def test_suspect_cells_never_win_and_stay_out_of_fits() -> None:
    """The impossible 2.5x is left out: the leader is the possible 1.9x, and no fit uses the SUSPECT cell."""
    summary = _summary(_record("fast", 2, 2.5), _record("fast", 1, 0.97), _record("fine", 2, 1.9))
    found = leader(summary)
    assert found.best is not None and found.best["strategy"] == "fine"
    assert "fast" not in set(fits(summary)["label"])


def test_a_speedup_is_the_median_of_per_pair_ratios() -> None:
    """Paired cells report the median of T_ref / T_cell over their pairs, with a CI around it."""
    row = _cell(_summary(_record("fine", 2, 1.9)), "fine")
    assert row["paired"] and row["pairs"] == len(JITTER)
    assert abs(row["speedup"] - 1.9) < 1e-6 and row["speedup_low"] <= 1.9 <= row["speedup_high"]
