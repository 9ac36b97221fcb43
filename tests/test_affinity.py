"""Which CPUs a cell is pinned to: as many as its workers, the least busy first, stable when idle."""

import multiprocessing
import time

import psutil
import pytest

from parbench.results.schema import Cell
from parbench.runner import affinity
from parbench.runner.affinity import BUSY_PERCENT, cpus_for, forget_load, least_busy, usable_cpus
from parbench.runner.probe import ProbeRequest


def test_idle_machine_always_gets_the_lowest_cpus() -> None:
    """With no load known (or all equal) a cell takes the first usable CPUs, so runs stay comparable."""
    assert cpus_for(1, [0, 1, 2, 3]) == [0]
    assert cpus_for(2, [0, 1, 2, 3], busy={0: 5.0, 1: 5.0, 2: 5.0, 3: 5.0}) == [0, 1]


def test_busy_cpus_are_avoided() -> None:
    """A CPU saturated by someone else is left out when quieter ones exist."""
    assert cpus_for(1, [0, 1], busy={0: 97.0, 1: 3.0}) == [1]
    assert cpus_for(2, [0, 1, 2, 3], busy={0: 90.0, 1: 10.0, 2: 80.0, 3: 0.0}) == [1, 3]


def test_a_cpu_running_slow_is_avoided_and_alike_speeds_keep_the_lowest() -> None:
    """A vCPU whose canary runs more than SLOW_MACHINE slower than the fastest is left out when another will
    do; speeds within that margin count as alike (the lowest numbers, as on an idle machine). Load first."""
    assert cpus_for(1, [0, 1], speed={0: 2000, 1: 800}) == [1]
    assert cpus_for(1, [0, 1], speed={0: 900, 1: 800}) == [0]
    assert cpus_for(2, [0, 1, 2], speed={0: 800, 1: 1900, 2: 850}) == [0, 2]
    assert cpus_for(1, [0, 1], busy={1: 90.0}, speed={0: 2000, 1: 800}) == [0]


def test_the_driver_times_each_cpu_only_when_it_has_a_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """least_busy asks the canary for each usable CPU when the cell leaves some out, and follows it."""
    usable = usable_cpus()
    timed: list[list[int]] = []

    def canary(cpus: list[int]) -> int:
        timed.append(list(cpus))
        return 2000 if cpus == usable[:1] else 800  # the first CPU runs slow

    monkeypatch.setattr(affinity, "canary_ns", canary)
    forget_load()
    window = _Loads()
    time.sleep(0.1)
    chosen, loads = least_busy(1), window.percent()
    assert timed == [[cpu] for cpu in usable]
    speed = {cpu: 2000 if cpu == usable[0] else 800 for cpu in usable}
    assert chosen == cpus_for(1, usable, loads, speed)  # on an idle machine with two CPUs: the second
    timed.clear()
    assert least_busy(len(usable)) == usable and timed == []  # every CPU: nothing to choose, nothing timed


def test_never_more_cpus_than_usable_nor_fewer_than_one() -> None:
    """Workers beyond the usable CPUs share them; a cell always gets at least one."""
    assert cpus_for(8, [2, 5]) == [2, 5]
    assert cpus_for(0, [2, 5]) == [2]


def test_probe_request_carries_the_drivers_choice() -> None:
    """The chosen CPUs travel to the probe and back through JSON; old requests without them still parse."""
    cell = Cell("array-sum", {"size": 10}, "sequential", 1)
    request = ProbeRequest(cell, 3, 1, (1,))
    assert ProbeRequest.from_dict(request.to_dict()) == request
    assert ProbeRequest.from_dict({"cell": cell.to_dict(), "repeat": 3, "warmup": 1}).cpus == ()


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


class _Loads:
    """Per-CPU load over a window, read from the CPU times (not psutil.cpu_percent, whose window it would move)."""

    def __init__(self) -> None:
        self.start = psutil.cpu_times(percpu=True)

    def percent(self) -> dict[int, float]:
        loads = {}
        for cpu, (a, b) in enumerate(zip(self.start, psutil.cpu_times(percpu=True), strict=True)):
            total = sum(b) - sum(a)
            idle = (b.idle + b.iowait) - (a.idle + a.iowait)
            loads[cpu] = 100.0 * (1 - idle / total) if total > 0 else 0.0
        return loads


def test_the_driver_sees_the_load_since_the_last_probe_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process saturating the first CPU: a one-worker cell goes to a CPU not taken. Once it has stopped and a
    probe ends (forget_load), its load no longer counts. Loads read independently over the same windows say
    what the right choice is (other processes on this machine may be busy too). Every CPU runs at one speed
    here (the canary is the next test's subject)."""
    monkeypatch.setattr(affinity, "canary_ns", lambda cpus: 1000)
    usable = usable_cpus()
    forget_load()
    window = _Loads()
    hog = multiprocessing.get_context("fork").Process(target=_spin, args=(0.5,))
    hog.start()
    try:
        psutil.Process(hog.pid).cpu_affinity(usable[:1])
        time.sleep(0.3)  # the hog holds the first CPU all along this window
        chosen, loads = least_busy(1), window.percent()
    finally:
        hog.join()
    assert loads[usable[0]] >= BUSY_PERCENT
    assert chosen == cpus_for(1, usable, loads)
    forget_load()
    window = _Loads()
    time.sleep(0.2)
    chosen, loads = least_busy(1), window.percent()
    assert chosen == cpus_for(1, usable, loads)  # an old window would still count the hog
