"""Per-cell statistics and speedups: the bootstrap CI, MAD outliers, and summarize() on real and made-up runs."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pandas as pd
import pytest

import parbench
from conftest import FIXTURE
from parbench.analysis.stats import describe, mad_outliers, median_ci
from parbench.results.schema import Cell, Record, Sample
from parbench.results.tidy import frame


def _record(strategy: str, workers: int, walls: list[int], ok: bool = True, size: int = 100) -> Record:
    cell = Cell("array-sum", {"size": size, "kernel": "python", "fill": "arange"}, strategy, workers)
    samples = tuple(Sample(i, w, w * workers // 2, {"compute": w}, 4950 if ok else 1, ok)
                    for i, w in enumerate(walls))
    return Record(cell, "OK" if ok else "WRONG", 4950, samples, setup_ns=100, teardown_ns=50, cpus=(0,),
                  family="processes")


def test_the_bootstrap_ci_brackets_the_median() -> None:
    """The 95% CI of the median contains the sample median and lies within the data."""
    values = np.array([10.0, 11, 12, 12, 13, 14, 30])
    low, high = median_ci(values)
    assert values.min() <= low <= np.median(values) <= high <= values.max()


def test_mad_flags_a_far_value_and_nothing_in_a_tight_sample() -> None:
    """One value far from a tight cluster is one outlier; the cluster alone has none."""
    tight = np.array([100.0, 101, 99, 100, 102, 98])
    assert mad_outliers(tight) == 0
    assert mad_outliers(np.append(tight, 300.0)) == 1


def test_describe_reports_spread_and_coefficient_of_variation() -> None:
    """describe() returns the median, IQR, min, n and a CV equal to stdev / mean."""
    stats = describe(np.array([10.0, 20, 30, 40]))
    assert (stats["median_ns"], stats["iqr_ns"], stats["min_ns"], stats["n"]) == (25.0, 15.0, 10.0, 4)
    assert stats["cv"] == pytest.approx(np.std([10, 20, 30, 40], ddof=1) / 25)


def test_speedup_efficiency_and_self_speedup_against_the_right_references() -> None:
    """Speedup uses sequential at the same point, self-speedup the same strategy at one worker."""
    df = frame("r", [_record("sequential", 1, [100, 100, 100]), _record("pool-map", 1, [120, 120, 120]),
                     _record("pool-map", 2, [50, 50, 50]), _record("sequential", 1, [999], size=7)])
    summary = parbench.summarize(df).set_index(["strategy", "workers", "size"])
    row = summary.loc[("pool-map", 2, 100)]
    assert row["speedup"] == pytest.approx(2.0)
    assert row["self_speedup"] == pytest.approx(2.4)
    assert row["efficiency"] == pytest.approx(1.0)
    assert row["utilisation"] == pytest.approx(0.5)
    assert row["e2e_ns"] == pytest.approx(100 + 50 + 50)


def test_a_wrong_cell_gets_no_speedup() -> None:
    """A WRONG cell keeps its statistics but its speedup is left empty, never averaged in."""
    df = frame("r", [_record("sequential", 1, [100, 100]), _record("value-nolock", 2, [10, 10], ok=False)])
    row = parbench.summarize(df).set_index("strategy").loc["value-nolock"]
    assert row["status"] == "WRONG" and row["median_ns"] == 10
    assert pd.isna(row["speedup"])


def test_summarize_the_fixture_one_row_per_cell_with_baselines_at_one() -> None:
    """On the committed fixture run: one row per cell, sequential speedup exactly 1, CI around each median."""
    df = parbench.load(FIXTURE)
    summary = parbench.summarize(df)
    assert len(summary) == df["key"].nunique()
    for column in ("median_ns", "iqr_ns", "mean_ns", "stdev_ns", "min_ns", "n", "ci_low_ns", "ci_high_ns", "cv",
                   "outliers", "e2e_ns", "speedup", "self_speedup", "efficiency", "utilisation", "status"):
        assert column in summary.columns, column
    seq = summary[summary["strategy"] == "sequential"]
    assert (seq["speedup"] == 1.0).all()
    ok = summary[summary["status"] == "OK"]
    assert ((ok["ci_low_ns"] <= ok["median_ns"]) & (ok["median_ns"] <= ok["ci_high_ns"])).all()
    assert summary.loc[summary["status"] == "WRONG", "speedup"].isna().all()


def test_utilisation_is_the_median_cpu_share_of_the_measured_repeats_and_shows_the_gil() -> None:
    """summarize()'s utilisation of every fixture cell equals, recomputed by hand from records.jsonl, the median
    over its measured (not warmup) repeats of cpu / (wall x workers); on that data threads x2 on the python kernel
    used about one CPU of two (the GIL)."""
    by_hand = {}
    for line in (FIXTURE / "records.jsonl").read_text().splitlines():
        raw = json.loads(line)
        workers = raw["cell"]["workers"]
        shares = [s["cpu_ns"] / (s["wall_ns"] * workers) for s in raw["samples"] if not s["warmup"]]
        by_hand[Record.from_dict(raw).cell.key()] = float(np.median(shares))
    summary = parbench.summarize(parbench.load(FIXTURE))
    assert len(by_hand) == len(summary) == 27
    assert dict(zip(summary["key"], summary["utilisation"], strict=True)) == pytest.approx(by_hand)
    gil = summary[(summary["strategy"] == "threads") & (summary["workers"] == 2) & (summary["kernel"] == "python")]
    assert len(gil) >= 1
    assert (gil["utilisation"] < 0.75).all()


def test_visits_of_a_cell_pool_their_repeats_and_keep_the_worst_status() -> None:
    """Two visits (sweep rounds) of one cell are one row: their repeats pooled, setup the median of the
    visits', and the status of the worse visit, with its error."""
    from dataclasses import replace

    first = replace(_record("pool-map", 2, [100, 110, 120]), visit=0)
    second = replace(_record("pool-map", 2, [130, 140], ok=False), visit=1, setup_ns=300,
                     error="result 1 differs")
    base = _record("sequential", 1, [400, 400])
    summary = parbench.summarize(frame("r", [first, second, base])).set_index("strategy")
    row = summary.loc["pool-map"]
    assert row["n"] == 5 and row["median_ns"] == 120
    assert row["status"] == "WRONG" and row["error"] == "result 1 differs"
    assert row["setup_ns"] == 200
    assert np.isnan(row["speedup"])  # a cell that is not OK gets no speedup


def test_the_sweep_tables_show_a_dash_where_sequential_failed() -> None:
    """A point whose sequential cell timed out has no baseline: its speedups and sequential median print as
    '-', never 'nanx' or 'nan ns'."""
    from dataclasses import replace

    from rich.console import Console

    from parbench.report.terminal import render

    timeout = replace(_record("sequential", 1, []), status="TIMEOUT", error="killed after 60 s")
    summary = parbench.summarize(frame("r", [timeout, _record("pool-map", 2, [50, 50, 50])]))
    console = Console(record=True, width=200, file=io.StringIO())
    render(console, summary)
    text = console.export_text()
    assert "nan" not in text.lower()
    assert re.search(r"pool-map\s+│\s+- \d+%", text), text
    assert re.search(r"pool-map x2 \(no baseline\)\s+│\s+-\s+│\s+50 ns\s+│\s+-", text), text
