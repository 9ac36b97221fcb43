"""Verdicts are drawn from the numbers: synthetic runs with a known story get the sentence that tells it,
with figures taken from the run and its calibration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import parbench
from parbench.analysis.phases import phase_medians
from parbench.analysis.scaling import annotate, crossovers, fits
from parbench.analysis.verdicts import Evidence, Verdict, verdicts
from parbench.results.schema import Cell, Record, Sample
from parbench.results.tidy import frame

MS = 1_000_000
CALIBRATION = {"memory_bandwidth_bytes_per_s": 10e9, "python_loop_ns_per_item": 50.0,
               "process_start_ns": {"fork": 7 * MS}, "pipe_bytes_per_s": 1e9}


def _record(strategy: str, family: str, workers: int, wall: int, cpu: int, size: int = 1_000_000,
            phases: Mapping[str, int] | None = None, kernel: str = "python") -> Record:
    cell = Cell("array-sum", {"size": size, "kernel": kernel, "fill": "arange"}, strategy, workers,
                "fork" if family == "processes" else None)
    samples = tuple(Sample(i, wall + i, cpu, dict(phases or {"compute": wall}), 1, True) for i in range(5))
    return Record(cell, "OK", 1, samples, setup_ns=1000, teardown_ns=1000, cpus=tuple(range(workers)), family=family)


def _verdict(records: Sequence[Record], calibration: Mapping[str, Any] = CALIBRATION) -> Verdict:
    df = frame("r", records)
    summary = annotate(parbench.summarize(df))
    touched = {p: 8_000_000 for p in summary["point"]}  # 1e6 int64 elements
    evidence = Evidence(summary, phase_medians(df).set_index("key"), calibration, touched, fits(summary),
                        crossovers(summary))
    (found,) = verdicts(evidence)
    return found


def test_threads_on_one_core_worth_of_cpu_are_blamed_on_the_gil() -> None:
    """Threads at 2 workers, no faster than sequential and using 50% CPU: the verdict names the GIL."""
    found = _verdict([_record("sequential", "sequential", 1, 100 * MS, 100 * MS),
                      _record("threads", "threads", 2, 100 * MS, 100 * MS)])
    gil = [line for line in found.lines if "GIL" in line]
    assert gil and "50%" in gil[0] and "one core's worth of 2" in gil[0]
    assert found.winner == "sequential"  # as fast as sequential, not faster: going parallel gains nothing


def test_the_winner_is_the_fastest_cell_clearly_ahead_of_sequential() -> None:
    """A process strategy at 2 workers in half the time wins, with its speedup in the sentence."""
    found = _verdict([_record("sequential", "sequential", 1, 100 * MS, 100 * MS),
                      _record("pool", "processes", 2, 50 * MS, 100 * MS)])
    assert found.winner == "pool x2"
    assert "2.00x (95% CI 2.00-2.00) sequential" in found.lines[0]


def test_process_start_overhead_is_set_against_the_calibrated_start_cost() -> None:
    """A cell losing 20 ms, 14 of them starting processes, is explained with the calibration's 7 ms a start."""
    found = _verdict([_record("sequential", "sequential", 1, 100 * MS, 100 * MS),
                      _record("pipe", "processes", 2, 70 * MS, 100 * MS,
                              phases={"spawn": 14 * MS, "compute": 56 * MS})])
    line = next(line for line in found.lines if line.startswith("pipe x2"))
    assert "20 ms of overhead" in line
    assert "starting 2 processes every run takes 14 ms" in line and "7 ms with fork" in line


def test_shipping_the_input_is_set_against_the_calibrated_pipe_throughput() -> None:
    """A scatter of 8 MB is compared with what the calibrated 1 GB/s Pipe needs for it (8 ms)."""
    found = _verdict([_record("sequential", "sequential", 1, 100 * MS, 100 * MS),
                      _record("pipe", "processes", 2, 90 * MS, 100 * MS,
                              phases={"scatter": 40 * MS, "compute": 50 * MS})])
    line = next(line for line in found.lines if line.startswith("pipe x2"))
    assert "shipping 7.63 MiB to the workers takes 40 ms" in line and "8 ms for these bytes" in line


def test_a_kernel_reading_near_the_memory_bandwidth_is_called_memory_bound() -> None:
    """Sequential reading 8 MB in 1 ms (8 GB/s of a calibrated 10 GB/s) is memory-bound; 100 ms is not."""
    fast = _verdict([_record("sequential", "sequential", 1, 1 * MS, 1 * MS, kernel="numpy"),
                     _record("pool", "processes", 2, 1 * MS, 2 * MS, kernel="numpy")])
    slow = _verdict([_record("sequential", "sequential", 1, 100 * MS, 100 * MS),
                     _record("pool", "processes", 2, 60 * MS, 110 * MS)])
    assert any("80% of the measured memory bandwidth" in line and "memory-bound" in line for line in fast.lines)
    assert any("compute-bound" in line and "100 ns per element" in line for line in slow.lines)
