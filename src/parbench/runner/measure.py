"""Measure one cell in this process: setup, warmups, timed repeats, teardown, every result checked.

`parbench run` calls it directly; the sweep's probe calls it in a fresh, pinned process.
Wall time is perf_counter_ns around `run()` alone; CPU time and memory are read outside that window so
the harness's own bookkeeping never lands inside a measured interval.

Paired measurement (DESIGN 5b): every repeat of a parallel cell is one side of a pair whose other side is
`sequential` at the same workload point, run in this process right before or after it (a coin decides, per
pair) and pinned in turn to each granted CPU. A speedup is then estimated from ratios of runs milliseconds
apart on the same CPUs, not from medians of two probes minutes apart on a machine whose speed drifts.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from parbench import registry
from parbench.cpus import usable_cpus
from parbench.errors import StrategyError, Unavailable, WorkerDied
from parbench.results import interpreter
from parbench.results.schema import Cell, Record, Sample, Status
from parbench.runner.neighbours import Neighbours
from parbench.strategies.base import Context, PhaseClock, Strategy
from parbench.workloads.base import Workload

# How long a result that is no JSON value may be when recorded as its repr.
MAX_REPR = 80


class TreeCpu:
    """User+system CPU time of this process and every descendant, reaped or alive, in nanoseconds.

    Own time (`time.process_time_ns`, all threads) and descendants' time are read apart: listing the
    descendants scans all of /proc (a millisecond or more), which must fall outside the bracket. The list
    is refreshed once per repeat, after the run: between two repeats the strategy runs no code, so the
    processes alive at the start of a run are the ones listed at the end of the previous one.
    """

    def __init__(self, follow_children: bool = True) -> None:
        self.me = psutil.Process()
        self.kids: list[psutil.Process] = []
        self.follow = follow_children  # False for the in-process reference: it starts nothing

    def refresh(self) -> None:
        # psutil lists descendants by reading every process's /proc/<pid>/stat: skip it when there is none.
        self.kids = self.me.children(recursive=True) if self.follow and _may_have_children() else []

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
    """A live process's own CPU time, every thread's /proc/<pid>/task/<tid>/schedstat summed (ns; psutil's
    figures come in 10 ms ticks, and the process's own schedstat holds its main thread only: a worker with
    threads, like a dask worker, would look idle), plus its reaped children's."""
    try:
        times = proc.cpu_times()
        own = int((times.user + times.system) * 1e9)
        tasks = Path(f"/proc/{proc.pid}/task")
        if tasks.exists():
            own = sum(_schedstat_ns(tasks / tid / "schedstat") for tid in os.listdir(tasks))
        return own + int((times.children_user + times.children_system) * 1e9)
    except (psutil.Error, OSError, ValueError, IndexError):
        return 0  # it ended between listing and reading: its time moves to its parent's children


def _schedstat_ns(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # a thread that ended between listing and reading


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class _Bench:
    """What timing one side of a pair needs: its process tree's CPU clock and its CPUs' neighbours."""

    cpu: TreeCpu
    neighbours: Neighbours
    check: Callable[[Any], tuple[Any, bool]]  # a run's result -> (as recorded, exact or within tolerance)
    cpu_bound: bool  # the workload's word: a kernel that waits competes for its CPUs only while it runs
    # The cell's CPU time is every thread's of the probe (strategies start threads); the in-process
    # reference's is its own thread's, or a pool's idle helper threads would count as its work.
    own_cpu: Callable[[], int] = time.process_time_ns


def _one(strategy: Strategy, bench: _Bench, index: int, warmup: bool, first: bool | None = None) -> Sample:
    gc.collect()
    clock, cpu = PhaseClock(), bench.cpu
    # The neighbours' snapshots bracket the CPU-time readings, never the other way round: their own cost
    # (reading /proc) must not count as the cell's CPU time.
    bench.neighbours.watch(child.pid for child in cpu.kids)
    seen0 = bench.neighbours.snapshot()
    kids0 = cpu.descendants()
    own0 = bench.own_cpu()
    t0 = time.perf_counter_ns()
    result = strategy.run(clock)
    phases = clock.stop()  # before t1, so the phases always fit inside the wall time
    t1 = time.perf_counter_ns()
    own1 = bench.own_cpu()
    seen1 = bench.neighbours.snapshot()
    cpu.refresh()
    used, wall = own1 - own0 + cpu.descendants() - kids0, t1 - t0
    stored, ok = bench.check(result)
    return Sample(index, wall, used, phases, stored, ok, warmup,
                  max(_own_peak_rss(), cpu.peak_rss_children()),
                  bench.neighbours.foreign_ns(seen0, seen1, used, wall, bench.cpu_bound), first)


class Reference:
    """`sequential` at the cell's workload point, run in this process between the cell's repeats, pinned in
    turn to each of the cell's CPUs (the vCPUs of one VM can differ by a third: a reference always on the
    fastest, or the slowest, would bias every ratio)."""

    def __init__(self, workload: Workload, data: Any, cpus: tuple[int, ...],
                 check: Callable[[Any], tuple[Any, bool]]) -> None:
        self.strategy = registry.get_strategy("sequential")(Context(workload, data, 1))
        self.cpus = cpus or (0,)
        self.check = check
        self.cpu_bound = workload_cpu_bound(workload) is not False
        self.cpu = TreeCpu(follow_children=False)
        self.neighbours = {cpu: Neighbours([cpu], run_queue=True) for cpu in self.cpus}

    def sample(self, index: int, turn: int, warmup: bool, first: bool) -> Sample:
        cpu = self.cpus[turn % len(self.cpus)]
        held = _affinity()
        _set_affinity({cpu})
        try:
            bench = _Bench(self.cpu, self.neighbours[cpu], self.check, self.cpu_bound, time.thread_time_ns)
            return _one(self.strategy, bench, index, warmup, first)
        finally:
            if held:
                _set_affinity(held)


def _affinity() -> set[int] | None:
    try:
        return os.sched_getaffinity(0)  # this thread's: workers and threads started earlier keep theirs
    except (AttributeError, OSError):
        return None


def _set_affinity(cpus: set[int]) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, cpus)


def _own_peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@dataclass
class _Lifecycle:
    """What setup, the repeats and teardown of one strategy instance produced."""

    samples: list[Sample] = field(default_factory=list)
    reference: list[Sample] = field(default_factory=list)
    setup_ns: int | None = None
    teardown_ns: int | None = None
    peak_children: int | None = None
    failure: Status | None = None
    error: str | None = None

    def status(self) -> Status:
        if any(not s.ok for s in (*self.samples, *self.reference)):
            return "WRONG"  # a wrong answer outranks a later failure: it is the finding
        return self.failure or ("ERROR" if self.error else "OK")

    def contaminated(self, cpus: int) -> int:
        """Timed pairs (or lone repeats) in which either side was disturbed by other tenants."""
        refs = {s.index: s for s in self.reference if not s.warmup}
        return sum(1 for s in self.samples
                   if not s.warmup and (s.disturbed(cpus) or (s.index in refs and refs[s.index].disturbed(1))))


def _pairs(strategy: Strategy, bench: _Bench, reference: Reference | None, life: _Lifecycle, warmup: int,
           repeat: int, on_sample: Callable[[Sample], None] | None, seed: str) -> None:
    """The repeats, each paired with a reference run in a random order (a seeded coin per pair). Warmups are not
    paired: the reference is the simplest code there is, and its first run already finds its input in memory."""
    coin = random.Random(seed)
    for i in range(warmup + repeat):
        index, warm = i - warmup, i < warmup
        ref_first = coin.random() < 0.5 if reference and not warm else None
        if reference and ref_first:
            life.reference.append(reference.sample(index, i, warm, first=True))
        sample = _one(strategy, bench, index, warm, None if ref_first is None else not ref_first)
        life.samples.append(sample)
        if reference and ref_first is False:
            life.reference.append(reference.sample(index, i, warm, first=False))
        if on_sample is not None:
            on_sample(sample)


def _live(strategy: Strategy, bench: _Bench, reference: Reference | None, warmup: int, repeat: int,
          on_sample: Callable[[Sample], None] | None, seed: str) -> _Lifecycle:
    cpu, life = bench.cpu, _Lifecycle()
    try:
        t0 = time.perf_counter_ns()
        strategy.setup()
        life.setup_ns = time.perf_counter_ns() - t0
        cpu.refresh()
        # Everything alive now lives for the whole cell: freezing it keeps the gc.collect() before each
        # repeat short (it then walks only what the runs allocate), instead of the whole heap every time.
        gc.collect()
        gc.freeze()
        _pairs(strategy, bench, reference, life, warmup, repeat, on_sample, seed)
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
            on_sample: Callable[[Sample], None] | None = None, paired: bool = True) -> Record:
    """Measure `cell`: `warmup` checked-but-untimed repeats, then `repeat` timed ones, each paired with a
    sequential reference run unless `paired` is False or the cell is sequential itself."""
    started, gil_start = now_iso(), interpreter.gil_enabled()
    workload = registry.make_workload(cell.workload, cell.params)
    strategy_cls = registry.get_strategy(cell.strategy)
    expected, check = result_check(workload)
    # A cell asking for a GIL state it did not get (PYTHON_GIL, runner.spec's `gil`) would measure something else.
    here = interpreter.facts(gil_start)
    reason = (strategy_cls.available(cell.start_method) or carries(strategy_cls, workload)
              or _available_for(strategy_cls, workload) or interpreter.gil_mismatch(cell.gil, here))
    if reason:
        return Record(cell, "UNAVAILABLE", expected, error=reason, started=started, family=strategy_cls.family,
                      interpreter=here)
    data, cpus = workload.make_input(), tuple(usable_cpus())
    strategy = strategy_cls(Context(workload, data, cell.workers, cell.start_method, cell.options))
    # sequential is its own reference; every other strategy is paired with it (module docstring).
    reference = Reference(workload, data, cpus, check) if paired and cell.strategy != "sequential" else None
    bench = _Bench(TreeCpu(), Neighbours(cpus), check, workload_cpu_bound(workload) is not False)
    life = _live(strategy, bench, reference, warmup, repeat, on_sample, cell.key())
    return Record(cell, life.status(), expected, tuple(life.samples), warmup, life.setup_ns, life.teardown_ns,
                  cpus, _own_peak_rss(), life.peak_children, life.error, strategy.extra(), started,
                  strategy_cls.family, reference=tuple(life.reference), cpu_bound=workload_cpu_bound(workload),
                  superlinear=bool(getattr(workload, "superlinear", False)), contaminated=life.contaminated(len(cpus)),
                  interpreter=interpreter.facts(gil_start))


def workload_cpu_bound(workload: Workload) -> bool | None:
    """The workload's word on whether its kernel keeps a CPU busy (a plugin may not say: None)."""
    says = getattr(workload, "cpu_bound", None)
    answer = says() if callable(says) else None
    return None if answer is None else bool(answer)


def result_check(workload: Workload) -> tuple[Any, Callable[[Any], tuple[Any, bool]]]:
    """The expected answer as recorded, and how a run's result is recorded and checked against it. Built-ins
    (and plugins without `matches`) stay exact integers; a workload with `matches(result, expected)` (function
    workloads: ==, or within rtol) may return any picklable value."""
    expected = workload.expected()
    matches = getattr(workload, "matches", None)
    if not callable(matches):
        return expected, lambda result: (int(result), int(result) == expected)
    return as_stored(expected), lambda result: (as_stored(result), bool(matches(result, expected)))


def as_stored(value: Any) -> Any:
    """A result as a record keeps it: JSON values as they are, numpy scalars as Python ones, others as a short repr."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple | dict):
        with contextlib.suppress(TypeError, ValueError):
            return json.loads(json.dumps(value))
    text = repr(value)
    return text if len(text) <= MAX_REPR else text[: MAX_REPR - 3] + "..."


def carries(strategy: type[Strategy], workload: Workload) -> str | None:
    """Why `strategy` cannot carry this workload's input or partials (it moves them as int64), or None."""
    if getattr(strategy, "int64_input", False) and not _says(workload, "int64_input"):
        return f"{strategy.name} moves its input as int64, and {workload.name}'s inputs are not all int64 integers"
    if getattr(strategy, "int64_partials", False) and not _says(workload, "int_results"):
        return f"{strategy.name} carries partial results as int64, and {workload.name}'s results are not integers"
    return None


def _says(workload: Workload, fact: str) -> bool:
    """A workload fact, True unless the workload says otherwise (built-ins and plugins move int64 arrays)."""
    method = getattr(workload, fact, None)
    return bool(method()) if callable(method) else True


def _available_for(strategy_cls: type[Strategy], workload: Workload) -> str | None:
    """A strategy's word on this workload point (subinterpreters: not the numpy kernel), when it has one."""
    says = getattr(strategy_cls, "available_for", None)
    return says(workload) if callable(says) else None
