"""Which CPUs a cell is pinned to: as many as its workers, the least busy first, stable when idle."""

import multiprocessing
import time

import psutil

from parbench.results.schema import Cell
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


def test_the_driver_sees_the_load_since_the_last_probe_ended() -> None:
    """A process saturating the first CPU: a one-worker cell goes to a CPU not taken. Once it has stopped and a
    probe ends (forget_load), its load no longer counts. Loads read independently over the same windows say
    what the right choice is (other processes on this machine may be busy too)."""
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
