"""Contamination detection (runner.neighbours): a real CPU-bound process on a cell's CPU marks its repeats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import psutil
import pytest

from conftest import skip_unless_no_skip
from parbench.cpus import usable_cpus
from parbench.results.schema import Record
from parbench.runner.cells import make_cell
from parbench.runner.neighbours import Neighbours, wait_for_quiet
from parbench.runner.probe import ProbeRequest

# serial: these tests load a CPU and measure what others did on it (tests/turns.py).
pytestmark = pytest.mark.serial
# About 20 ms a repeat for the python kernel here: long enough for both witnesses (ticks, run-queue wait).
REPEAT = 4
REQUEST = ProbeRequest(make_cell("array-sum", {"size": 1_000_000}, "threads", 1), repeat=REPEAT, warmup=0,
                       cpus=(0,))


@pytest.fixture
def hog_on_cpu0() -> Iterator[int]:
    """A busy-looping process pinned to CPU 0, started here and killed by its PID afterwards."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(hog.pid, {0})
        psutil.Process(hog.pid).cpu_percent()
        yield hog.pid
    finally:
        hog.kill()
        hog.wait()


def _probe(request: ProbeRequest = REQUEST) -> Record:
    proc = subprocess.run([sys.executable, "-m", "parbench.runner.probe"], input=request.to_json(),
                          capture_output=True, text=True, timeout=60, check=True)
    return Record.from_dict(json.loads(proc.stdout))


@pytest.mark.slow
def test_a_cpu_hog_on_the_granted_cpu_marks_the_repeats(hog_on_cpu0: int) -> None:
    """With a busy loop pinned to the cell's only CPU, every timed pair is marked contaminated, with the foreign
    share recorded on both sides."""
    record = _probe()
    assert record.status == "OK" and record.cpus == (0,)
    assert record.contaminated == REPEAT, [(s.foreign_ns, s.wall_ns) for s in record.timed]
    assert all(s.disturbed(1) for s in record.timed_reference)


@pytest.mark.slow
def test_a_cpu_hog_on_one_of_two_granted_cpus_marks_a_process_cells_repeats(hog_on_cpu0: int) -> None:
    """A two-worker process cell on CPUs 0 and 1, the hog on CPU 0: its workers come and go within each repeat,
    so the running-stranger witness is the one that sees the hog; every timed repeat is marked."""
    if len(usable_cpus()) < 2:
        skip_unless_no_skip("needs two usable CPUs")
    request = ProbeRequest(make_cell("array-sum", {"size": 100_000}, "process-pipe", 2), repeat=REPEAT, warmup=0,
                           cpus=(0, 1))
    record = _probe(request)
    assert record.status == "OK" and record.cpus == (0, 1)
    assert all(s.disturbed(2) for s in record.timed), [(s.foreign_ns, s.wall_ns) for s in record.timed]


@pytest.mark.slow
def test_the_same_cell_without_the_hog_marks_fewer_repeats(hog_on_cpu0: int) -> None:
    """Control: the hog stopped by PID, the same cell is marked on fewer repeats than all of them."""
    os.kill(hog_on_cpu0, 9)
    psutil.Process(hog_on_cpu0).wait(10)
    record = _probe()
    assert record.status == "OK"
    assert (record.contaminated or 0) < REPEAT, [(s.foreign_ns, s.wall_ns) for s in record.timed]


def test_foreign_time_is_never_negative_and_forgives_one_tick_per_cpu() -> None:
    """Our own CPU time is taken off the CPUs' busy time; a tick of rounding per CPU is not counted as foreign."""
    from parbench.runner.neighbours import _TICK_NS, Snapshot

    neighbours = Neighbours([0, 1])
    idle = Snapshot(((0, 0), (0, 0)), 0)
    busy = 2 * _TICK_NS  # a window in which our tree kept both CPUs busy
    # One tick in each of the two fields that moved: rounding, not a neighbour.
    assert neighbours.foreign_ns(idle, Snapshot(((1, 0), (0, 1)), 0), own_cpu_ns=busy, wall_ns=_TICK_NS) == 0
    # Seven ticks on CPU 0's user field, two of them ours and one forgiven: four foreign.
    seven = Snapshot(((7, 0), (0, 0)), 0)
    assert neighbours.foreign_ns(idle, seven, own_cpu_ns=busy, wall_ns=_TICK_NS) == 4 * _TICK_NS
    # The same neighbour while a kernel that waits slept through 90% of the window: a tenth of it competed with
    # it; a CPU-bound kernel counts it whole.
    quiet_sleeper = neighbours.foreign_ns(idle, seven, own_cpu_ns=busy, wall_ns=10 * _TICK_NS, cpu_bound=False)
    assert quiet_sleeper == int(4 * _TICK_NS * 0.1)
    assert neighbours.foreign_ns(idle, seven, own_cpu_ns=busy, wall_ns=10 * _TICK_NS) == 4 * _TICK_NS
    # The run-queue witness counts whole, and our own CPU time never makes the figure negative.
    assert neighbours.foreign_ns(idle, Snapshot(((0, 0), (0, 0)), 7), own_cpu_ns=10**9, wall_ns=1) == 7


@pytest.mark.slow
def test_quiet_wait_gives_up_after_its_limit_while_the_cpu_is_busy(hog_on_cpu0: int) -> None:
    """--quiet-wait: with CPU 0 saturated the wait runs to its limit (and says how long it waited)."""
    waited = wait_for_quiet([0], limit_s=0.6, window_s=0.2)
    assert waited >= 0.4  # it never returned early: the CPU never went quiet
