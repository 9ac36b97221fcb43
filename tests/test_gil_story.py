"""analysis.interpreters on a hand-made summary: the table and the sentences the report shows, including a
free-threaded build (none exists on these machines) with the GIL off, and one whose GIL an import re-enabled."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from parbench.analysis.interpreters import gil_story

POINT = {"size": 1_000_000, "kernel": "python", "fill": "arange"}
FACTS = {"3.11": ("3.11.7", False, True, True), "3.14t": ("3.14.0", True, False, False),
         "3.13t": ("3.13.0", True, False, True)}  # version, free-threaded, GIL at start, GIL at end


def _row(python: str, strategy: str, workers: int, median_ms: float, speedup: float, util: float,
         status: str = "OK", setup_ms: float | None = None) -> dict[str, Any]:
    version, free, start, end = FACTS[python]
    cell = {"workload": "array-sum", "params": POINT, "strategy": strategy, "workers": workers,
            "start_method": None, "options": {}, "python": python}
    return {"key": json.dumps(cell, sort_keys=True), "workload": "array-sum", "strategy": strategy,
            "workers": workers, "status": status, "median_ns": median_ms * 1e6, "speedup": speedup,
            "utilisation": util, "setup_ns": None if setup_ms is None else setup_ms * 1e6, "python": python,
            "gil": None, "python_version": version, "free_threaded": free, "gil_start": start, "gil_end": end}


def _summary(*more: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([
        _row("3.11", "sequential", 1, 50.0, 1.0, 1.0), _row("3.11", "threads", 2, 52.0, 0.96, 0.5),
        _row("3.11", "subinterpreters", 2, float("nan"), float("nan"), float("nan"), status="UNAVAILABLE"),
        _row("3.14t", "sequential", 1, 55.0, 1.0, 1.0), _row("3.14t", "threads", 2, 29.0, 1.9, 0.97),
        _row("3.14t", "subinterpreters", 2, 30.0, 1.85, 0.95, setup_ms=24.0), *more])


def test_free_threaded_threads_against_the_gil() -> None:
    """Threads scale on 3.14t with the GIL off from start to end, not on 3.11; the single-thread cost is the
    ratio of the sequential medians; subinterpreters start per worker against the calibrated fork."""
    (story,) = gil_story(_summary(), "3.11.7", {"process_start_ns": {"fork": 4_000_000}})
    assert story.point == "array-sum fill=arange kernel=python size=1e6"
    assert story.interpreters == ("3.11.7", "3.14.0t")
    assert story.rows == (("sequential time (x running)", ("50 ms (1.00x)", "55 ms (1.10x)")),
                          ("subinterpreters x2", ("n/a", "1.85x 95% CPU")),
                          ("threads x2", ("0.96x 50% CPU", "1.90x 97% CPU")))
    assert story.verdicts == (
        "threads reach 0.96x on 3.11.7 and 1.90x on 3.14.0t at 2 workers (CPU 50%, 97%).",
        "subinterpreters reach 1.85x at 2 workers on 3.14.0t using 95% CPU: each has its own GIL, so they run "
        "Python in parallel.",
        "On one thread (sequential), 3.14.0t takes 1.10x the time of 3.11.7, the interpreter the sweep ran from.",
        "subinterpreters start in 12 ms each (setup per worker) against 4 ms for a forked process (start + join, "
        "calibration).")


def test_a_re_enabled_gil_is_named() -> None:
    """A free-threaded build whose GIL came back during the cell is labelled so, never as GIL-free."""
    (story,) = gil_story(_summary(_row("3.13t", "threads", 2, 50.0, 1.0, 0.5),
                                  _row("3.13t", "sequential", 1, 50.0, 1.0, 1.0)), "3.11.7", {})
    assert story.interpreters == ("3.11.7", "3.13.0t (GIL re-enabled)", "3.14.0t")
    assert story.verdicts[0] == ("threads reach 0.96x on 3.11.7 and 1.00x on 3.13.0t (GIL re-enabled) and 1.90x on "
                                 "3.14.0t at 2 workers (CPU 50%, 50%, 97%).")


def test_no_story_under_one_gil_interpreter() -> None:
    """A run under the running interpreter alone (no python column set) has no GIL story."""
    summary = _summary().assign(python=None)
    assert gil_story(summary, "3.11.7", {}) == ()


def test_sequential_time_uses_every_paired_reference() -> None:
    """Given the run's repeats, an interpreter's sequential time is the median of its sequential cell's repeats and
    of every reference paired with its other cells (here 3.14t: 50, 60, 70 and 80 ms: 65 ms, 1.30x 3.11's 50)."""
    summary = _summary()
    keys = dict(zip(zip(summary["python"], summary["strategy"], strict=True), summary["key"], strict=True))
    repeats = pd.DataFrame([
        {"key": keys["3.11", "sequential"], "python": "3.11", "gil": None, "strategy": "sequential", "ok": True,
         "wall_ns": 50e6, "ref_wall_ns": None},
        {"key": keys["3.14t", "sequential"], "python": "3.14t", "gil": None, "strategy": "sequential", "ok": True,
         "wall_ns": 50e6, "ref_wall_ns": None},
        *({"key": keys["3.14t", "threads"], "python": "3.14t", "gil": None, "strategy": "threads", "ok": True,
           "wall_ns": 29e6, "ref_wall_ns": ms * 1e6} for ms in (60, 70, 80))])
    (story,) = gil_story(summary, "3.11.7", {}, repeats)
    assert story.rows[0] == ("sequential time (x running)", ("50 ms (1.00x)", "65 ms (1.30x)"))
