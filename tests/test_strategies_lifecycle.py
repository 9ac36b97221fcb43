"""Strategy lifecycles with real threads and processes: a failure partway still cleans up, workers keep
their signal setup, and records say what a run did."""

from __future__ import annotations

import os
import signal
import threading

import psutil
import pytest

from parbench.runner.cells import make_cell
from parbench.runner.measure import measure
from parbench.strategies import threads as threads_module
from parbench.strategies.base import Context, PhaseClock
from parbench.strategies.manager import ManagerDict
from parbench.strategies.threads import Threads
from parbench.workloads.array_sum import ArraySum


def _context(workers: int, method: str | None = None) -> Context:
    workload = ArraySum.from_params({"size": 1_001})
    return Context(workload, workload.make_input(), workers, method)


def test_thread_start_failure_releases_the_started_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The third thread fails to start: run raises that error, and the two already started end instead of
    waiting forever for the go signal."""
    starts: list[threading.Thread] = []

    class FailingThird(threading.Thread):
        def start(self) -> None:
            if len(starts) == 2:
                raise RuntimeError("can't start new thread")
            starts.append(self)
            super().start()

    monkeypatch.setattr(threads_module.threading, "Thread", FailingThird)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        Threads(_context(3)).run(PhaseClock())
    assert len(starts) == 2
    for thread in starts:
        thread.join(10)
    assert [t.is_alive() for t in starts] == [False, False]


def _signal_mask(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status").read().splitlines():  # noqa: SIM115
        if line.startswith(f"{field}:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _signal_bit(signum: int) -> int:
    return 1 << (signum - 1)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads signal dispositions from /proc")
def test_manager_server_has_the_worker_signal_setup() -> None:
    """The Manager's server process is set up like every other worker, even when forked from a process with
    a Python SIGTERM handler (as `parbench run` has): Ctrl-C is ignored, SIGTERM kills at once. A SIGINT
    to it leaves the next run working; teardown stops the server."""
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    strategy = ManagerDict(_context(2, "fork"))
    try:
        strategy.setup()
    finally:
        signal.signal(signal.SIGTERM, previous)
    try:
        server = psutil.Process(strategy.manager._process.pid)
        assert _signal_mask(server.pid, "SigIgn") & _signal_bit(signal.SIGINT)
        assert not _signal_mask(server.pid, "SigCgt") & _signal_bit(signal.SIGTERM)
        os.kill(server.pid, signal.SIGINT)
        assert strategy.run(PhaseClock()) == 1_001 * 1_000 // 2
    finally:
        strategy.teardown()
    assert psutil.wait_procs([server], timeout=10)[1] == []


@pytest.mark.parametrize(("strategy", "batch", "updates"), [
    ("value-nolock", 1, 10_001),   # one update per item, split over two workers
    ("value-nolock", 0, 2),        # one update per task: two workers, two tasks
    ("value-lock", 1_000, 11),     # tasks of 5_000 and 5_001 items, in batches of at most 1_000: 5 + 6
])
def test_value_strategies_record_their_shared_updates(strategy: str, batch: int, updates: int) -> None:
    """The record says how many shared updates a run made: a value-nolock OK with few updates is no proof."""
    record = measure(make_cell("array-sum", {"size": 10_001}, strategy, 2, "fork", {"batch": batch}),
                     repeat=1, warmup=0)
    assert record.status in ("OK", "WRONG"), record.error  # WRONG: value-nolock lost an update, its purpose
    assert record.extra["updates"] == updates
