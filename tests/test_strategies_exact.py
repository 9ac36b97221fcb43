"""Every strategy x workload x start method gives the exact answer, with real processes and shared memory."""

from __future__ import annotations

import os

import pytest

from parbench import registry
from parbench.results.schema import Record
from parbench.runner.cells import make_cell
from parbench.runner.measure import measure
from parbench.segments import leftover_segments

# The cluster and peer strategies (dispy, dask, joblib, ray, mpi) have their own tests against real daemons.
PEERS = ("dispy", "dask", "joblib", "ray", "mpi", "mpi-pickle")
# subinterpreters needs Python 3.13+: tests/test_gil.py checks its exact results under 3.13.
LOCAL = [name for name in registry.BUILTIN_STRATEGIES if name not in (*PEERS, "subinterpreters")]
PROCESS = [n for n in LOCAL if registry.get_strategy(n).uses_start_method]
IN_PROCESS = [n for n in LOCAL if not registry.get_strategy(n).uses_start_method]
# Small, uneven inputs: 10_001 elements and 5 items do not split evenly over 2 or 3 workers.
WORKLOADS = {"array-sum": {"size": 10_001}, "delayed-square": {"size": 5, "delay": 0.001}}


def _measure(strategy: str, workload: str, workers: int, method: str | None, **options: object) -> Record:
    cell = make_cell(workload, WORKLOADS[workload], strategy, workers, method, options)
    return measure(cell, repeat=2, warmup=0)


def _assert_exact(record: Record) -> None:
    assert record.status == "OK", (record.status, record.error)
    assert [s.result for s in record.samples] == [record.expected] * 2
    assert not leftover_segments(os.getpid())


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.parametrize("strategy", [s for s in PROCESS if s != "value-nolock"])
def test_process_strategy_is_exact(strategy: str, workload: str, method: str) -> None:
    """Each process strategy returns the exact sum on every repeat under every start method."""
    _assert_exact(_measure(strategy, workload, 2, method))


@pytest.mark.parametrize("workload", list(WORKLOADS))
@pytest.mark.parametrize("strategy", [s for s in IN_PROCESS if s != "sequential"])
def test_thread_strategy_is_exact(strategy: str, workload: str) -> None:
    """threads and thread-pool return the exact sum at 3 workers (more workers than CPUs)."""
    _assert_exact(_measure(strategy, workload, 3, None))


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_sequential_is_exact(workload: str) -> None:
    """The baseline itself is exact."""
    _assert_exact(_measure("sequential", workload, 1, None))


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_value_nolock_without_concurrency_is_exact(method: str) -> None:
    """With one worker there is nobody to race: value-nolock is exact (its WRONG is the race, not a bug)."""
    _assert_exact(_measure("value-nolock", "array-sum", 1, method))


def test_value_lock_survives_the_racing_configuration() -> None:
    """value-lock with one locked update per item (value-nolock's racing batch) is still exact."""
    _assert_exact(_measure("value-lock", "array-sum", 2, "fork", batch=1))


@pytest.mark.parametrize("strategy", ["shared-array", "shared-memory", "mp-array", "pool-map"])
def test_numpy_kernel_with_ones(strategy: str) -> None:
    """The numpy kernel over an array of ones gives exactly `size`."""
    cell = make_cell("array-sum", {"size": 100_003, "kernel": "numpy", "fill": "ones"}, strategy, 2)
    record = measure(cell, repeat=2, warmup=1)
    assert record.status == "OK"
    assert {s.result for s in record.samples} == {100_003}


def test_phases_and_cpu_are_recorded() -> None:
    """A process-per-run strategy reports spawn/scatter/compute/gather phases within its wall time, and CPU."""
    record = _measure("process-pipe", "array-sum", 2, "fork")
    for sample in record.samples:
        assert set(sample.phases) == {"spawn", "scatter", "compute", "gather"}
        assert sum(sample.phases.values()) <= sample.wall_ns
        assert sample.cpu_ns > 0
    assert record.setup_ns is not None and record.teardown_ns is not None
