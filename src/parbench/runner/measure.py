"""Measure one cell in this process: setup, warmups, timed repeats, teardown, every result checked.

`parbench run` calls it directly; the sweep's probe calls it in a fresh, pinned process.
Wall time is perf_counter_ns around `run()` alone; CPU time and memory are read outside that window so
the harness's own bookkeeping never lands inside a measured interval.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil

from parbench import registry
from parbench.cpus import usable_cpus
from parbench.errors import StrategyError, Unavailable, WorkerDied
from parbench.results.schema import Cell, Record, Sample, Status
from parbench.strategies.base import Context, PhaseClock, Strategy


class TreeCpu:
    """User+system CPU time of this process and every descendant, reaped or alive, in nanoseconds.

    Own time (`time.process_time_ns`, all threads) and descendants' time are read apart: listing the
    descendants scans all of /proc (a millisecond or more), which must fall outside the bracket. The list
    is refreshed once per repeat, after the run: between two repeats the strategy runs no code, so the
    processes alive at the start of a run are the ones listed at the end of the previous one.
    """

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.kids: list[psutil.Process] = []

    def refresh(self) -> None:
        # psutil lists descendants by reading every process's /proc/<pid>/stat: skip it when there is none.
        self.kids = self.me.children(recursive=True) if _may_have_children() else []

    def descendants(self) -> int:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return int((kids.ru_utime + kids.ru_stime) * 1e9) + sum(_live_cpu_ns(child) for child in self.kids)

    def peak_rss_children(self) -> int:
        """Largest RSS of any child: reaped ones by their peak, live ones by their current size."""
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        for child in self.kids:
            with contextlib.suppress(psutil.Error):
                peak = max(peak, child.memory_info().rss)
        return peak


def _may_have_children() -> bool:
    """False only when /proc/self/task/*/children (one small file per thread, Linux) lists no child at all.

    Between repeats of a cell without processes (sequential, threads) this keeps the gap between two runs
    as short and cache-friendly as pyperf's back-to-back loops; True wherever the files cannot be read.
    """
    try:
        return any(Path(f"/proc/self/task/{tid}/children").read_text().strip() for tid in os.listdir("/proc/self/task"))
    except OSError:
        return True


def _live_cpu_ns(proc: psutil.Process) -> int:
    """A live process's own CPU time from /proc/<pid>/schedstat (ns; /proc/stat ticks are 10 ms), plus its
    reaped children's."""
    try:
        times = proc.cpu_times()
        own = int((times.user + times.system) * 1e9)
        schedstat = Path(f"/proc/{proc.pid}/schedstat")
        if schedstat.exists():
            own = int(schedstat.read_text().split()[0])
        return own + int((times.children_user + times.children_system) * 1e9)
    except (psutil.Error, OSError, ValueError, IndexError):
        return 0  # it ended between listing and reading: its time moves to its parent's children


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _one(strategy: Strategy, cpu: TreeCpu, index: int, expected: int, warmup: bool) -> Sample:
    gc.collect()
    clock = PhaseClock()
    kids0 = cpu.descendants()
    own0 = time.process_time_ns()
    t0 = time.perf_counter_ns()
    result = strategy.run(clock)
    phases = clock.stop()  # before t1, so the phases always fit inside the wall time
    t1 = time.perf_counter_ns()
    own1 = time.process_time_ns()
    cpu.refresh()
    kids1 = cpu.descendants()
    return Sample(index, t1 - t0, own1 - own0 + kids1 - kids0, phases, int(result), int(result) == expected, warmup,
                  max(_own_peak_rss(), cpu.peak_rss_children()))


def _own_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class _Lifecycle:
    """What setup, the repeats and teardown of one strategy instance produced."""

    samples: list[Sample] = field(default_factory=list)
    setup_ns: int | None = None
    teardown_ns: int | None = None
    peak_children: int | None = None
    failure: Status | None = None
    error: str | None = None

    def status(self) -> Status:
        if any(not s.ok for s in self.samples):
            return "WRONG"  # a wrong answer outranks a later failure: it is the finding
        return self.failure or ("ERROR" if self.error else "OK")


def _live(strategy: Strategy, expected: int, warmup: int, repeat: int,
          on_sample: Callable[[Sample], None] | None) -> _Lifecycle:
    cpu, life = TreeCpu(), _Lifecycle()
    try:
        t0 = time.perf_counter_ns()
        strategy.setup()
        life.setup_ns = time.perf_counter_ns() - t0
        cpu.refresh()
        # Everything alive now lives for the whole cell: freezing it keeps the gc.collect() before each
        # repeat short (it then walks only what the runs allocate), instead of the whole heap every time.
        gc.collect()
        gc.freeze()
        for i in range(warmup + repeat):
            sample = _one(strategy, cpu, i - warmup, expected, warmup=i < warmup)
            life.samples.append(sample)
            if on_sample is not None:
                on_sample(sample)
    except Unavailable as exc:
        life.failure, life.error = "UNAVAILABLE", str(exc)
    except WorkerDied as exc:
        life.failure, life.error = "CRASHED", str(exc)
    except StrategyError as exc:
        life.error = str(exc)
    finally:
        gc.unfreeze()
        cpu.refresh()
        life.peak_children = cpu.peak_rss_children()
        t0 = time.perf_counter_ns()
        try:
            strategy.teardown()
        except Exception as exc:
            life.error = life.error or f"teardown failed: {type(exc).__name__}: {exc}"
        life.teardown_ns = time.perf_counter_ns() - t0
    return life


def measure(cell: Cell, repeat: int, warmup: int = 0,
            on_sample: Callable[[Sample], None] | None = None) -> Record:
    """Measure `cell`: `warmup` checked-but-untimed repeats, then `repeat` timed ones."""
    started = now_iso()
    workload = registry.get_workload(cell.workload).from_params(cell.params)
    strategy_cls = registry.get_strategy(cell.strategy)
    expected = workload.expected()
    reason = strategy_cls.available(cell.start_method)
    if reason:
        return Record(cell, "UNAVAILABLE", expected, error=reason, started=started, family=strategy_cls.family)
    strategy = strategy_cls(Context(workload, workload.make_input(), cell.workers, cell.start_method,
                                    cell.options))
    life = _live(strategy, expected, warmup, repeat, on_sample)
    return Record(cell, life.status(), expected, tuple(life.samples), warmup, life.setup_ns, life.teardown_ns,
                  tuple(usable_cpus()), _own_peak_rss(), life.peak_children, life.error, strategy.extra(), started,
                  strategy_cls.family)
