"""What every bench suite shares: the strategies it covers, and one benchmarked cell in steady state.

A benchmark builds its cell with `make_cell`, runs the strategy's `setup()` once outside the timer (pools,
servers, segments), times `run()` alone with `benchmark.pedantic` (a fresh PhaseClock per round from
pedantic's untimed `setup`), checks every round's result against the workload's exact answer, and always
calls `teardown()`. Each round is paired with a run of `sequential` at the same workload point, right before or
after the cell's run at random (`PairedReference`); `extra_info["paired_ratio"]` holds the per-pair ratios
T_cell / T_sequential, their median and its bootstrap 95% CI: the normalised figure the gate compares. A
strategy whose every run starts a process per worker (its `processes_per_run` fact) is paired with sequential
plus that many process starts (`ProcessStarts`), timed in the same slot: process start-up on a shared VM drifts
by up to 1.8x from minute to minute, and a reference without it left that drift in the ratio (NOISE.md).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from parbench import registry
from parbench.analysis.stats import median_ci
from parbench.errors import Unavailable
from parbench.results.schema import Cell
from parbench.runner.cells import make_cell
from parbench.strategies.base import Context, PhaseClock, Strategy
from parbench.workloads.base import Workload

# The machine here has 2 CPUs: 1 shows the strategy's overhead, 2 its speedup.
WORKERS: tuple[int, ...] = (1, 2)
# value-nolock exists to come out WRONG (the lost-update race the course warns about): an exact-result gate
# would fail on it by design, and a wrong answer has no meaningful speed. Its detection is tested in tests/.
# subinterpreters runs on 3.13+ and on the python kernel only: the gate runs under the project's interpreter, so it
# is measured by the interpreter axis instead (tests/test_gil.py runs it under Python 3.13).
EXCLUDED: frozenset[str] = frozenset({"value-nolock", "subinterpreters"})
SLOWDOWN_ENV = "PARBENCH_BENCH_SLOWDOWN"
# CI's "run everything" switch (.ci/run and ci.yml set it for the tests and the bench smoke run; tests/ reads it
# too): a strategy unavailable here fails its benchmark instead of skipping it.
NO_SKIP_ENV = "PARBENCH_NO_SKIP"
WARMUP_ROUNDS = 1


@dataclass(frozen=True)
class Case:
    """One workload at one CI-sized parameter set; `id` names it in benchmark ids and groups."""

    id: str
    workload: str
    params: Mapping[str, object]
    rounds: int

    def kernel(self) -> str:
        # delayed-square has no kernel parameter: its work is a sleep (GIL released), then a multiply.
        return str(self.params.get("kernel", "sleep"))


@dataclass(frozen=True)
class Slowdown:
    """A deliberate regression: `seconds` more per run, or the run stretched by `factor` (1.3: 30% slower)."""

    seconds: float = 0.0
    factor: float = 1.0

    def extra(self, elapsed: float) -> float:
        return self.seconds + (self.factor - 1.0) * elapsed


def parse_slowdown(raw: str) -> dict[str, Slowdown]:
    """`name:seconds` or `name:FACTORx` items, comma-separated -> {name: Slowdown}; the gate's own tests use it
    to fake a regression (`threads:1.3x`: every timed run of threads takes 1.3 times as long)."""
    slowdown: dict[str, Slowdown] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, amount = item.rpartition(":")
        if not sep or not name:
            raise ValueError(f"{SLOWDOWN_ENV}: expected strategy:seconds or strategy:FACTORx, got {item!r}")
        if amount.endswith("x"):
            slowdown[name] = Slowdown(factor=float(amount[:-1]))
        else:
            slowdown[name] = Slowdown(seconds=float(amount))
    return slowdown


def slowdown_for(strategy: str) -> Slowdown:
    return parse_slowdown(os.environ.get(SLOWDOWN_ENV, "")).get(strategy, Slowdown())


def covered_strategies() -> list[str]:
    """Every registered strategy but the excluded ones and shadowed plugin duplicates, sequential first
    (the reference every other benchmark of its case is paired with reads first in the table)."""
    names = [key for key, entry in registry.strategies().items() if key == entry.name and key not in EXCLUDED]
    return sorted(names, key=lambda name: name != "sequential")


def workers_for(strategy: str) -> tuple[int, ...]:
    cls = registry.strategies()[strategy].obj
    limit = None if cls is None else cls.max_workers
    return tuple(w for w in WORKERS if limit is None or w <= limit)


def strategy_params(cases: Sequence[Case]) -> list[Any]:
    """pytest params case x strategy x workers. Distributed strategies (clusters: seconds to start) carry
    the `cluster` mark so they can be run or left out as a group (`-m cluster`, `-m "not cluster"`)."""
    params: list[Any] = []
    for case in cases:
        for name in covered_strategies():
            cls = registry.strategies()[name].obj
            marks = [pytest.mark.cluster] if cls is not None and cls.family == "distributed" else []
            params.extend(pytest.param(case, name, w, id=f"{case.id}-{name}-x{w}", marks=marks)
                          for w in workers_for(name))
    return params


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it under PARBENCH_NO_SKIP=1, where nothing may be left out."""
    if os.environ.get(NO_SKIP_ENV) == "1":
        pytest.fail(f"{NO_SKIP_ENV}=1 but {reason}")
    pytest.skip(reason)


@contextmanager
def lifecycle(strategy_cls: type[Strategy], ctx: Context) -> Iterator[Strategy]:
    """setup() before, teardown() after, even when setup or the benchmark raised."""
    strategy = strategy_cls(ctx)
    try:
        strategy.setup()
        yield strategy
    except Unavailable as exc:  # e.g. no room left in /dev/shm: a fact about this machine, not a bug
        unavailable(f"{strategy_cls.name} is unavailable here: {exc}")
    finally:
        strategy.teardown()


def fresh_round() -> tuple[tuple[PhaseClock], dict[str, Any]]:
    """pedantic's untimed per-round setup: collect garbage (as the probe does), hand over a new clock."""
    gc.collect()
    return (PhaseClock(),), {}


def timed_run(strategy: Strategy, results: list[int], times: list[float]) -> Callable[[PhaseClock], int]:
    """`strategy.run`, recording each result and wall time, stretched by PARBENCH_BENCH_SLOWDOWN when it names
    the strategy (the sleep is part of the time: it stands for slower code)."""
    slowdown = slowdown_for(strategy.name)

    def run(clock: PhaseClock) -> Any:
        t0 = time.perf_counter()
        result = strategy.run(clock)
        extra = slowdown.extra(time.perf_counter() - t0)
        if extra > 0:
            time.sleep(extra)
        times.append(time.perf_counter() - t0)
        results.append(result)
        return result

    return run


def reference_cpus(workers: int) -> tuple[int, ...]:
    """CPUs to time the sequential reference on, one run each, keeping the slowest; () for one unpinned run.

    A cell that spreads over every CPU we may use finishes with its slowest one: when another job holds one
    CPU (or the vCPUs simply differ in speed), such a cell slows down while an unpinned sequential run moves to
    the idle CPU and does not. Timing the reference on each of those CPUs and keeping the slowest makes the
    ratio carry the code's change, not the neighbour's (DESIGN 5b, "pin the reference where the cell runs").
    With more CPUs than workers the cell's threads find idle CPUs just as the reference does. The slowest
    over-corrects for cells that do not load every CPU (GIL-bound threads, short numpy sums): with a busy loop on
    one CPU they read 22-55 % low (NOISE.md). A gate then misses more, but raises no false alarm."""
    if workers < 2 or not hasattr(os, "sched_getaffinity"):
        return ()
    allowed = tuple(sorted(os.sched_getaffinity(0)))
    return allowed if 1 < len(allowed) <= workers else ()


def _timed_on(cpu: int | None, reference: Strategy) -> float:
    """One run of `reference`, pinned to `cpu` for its duration (this thread only) unless None."""
    allowed = os.sched_getaffinity(0) if cpu is not None else set()
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        gc.collect()
        t0 = time.perf_counter()
        reference.run(PhaseClock())
        return time.perf_counter() - t0
    finally:
        if cpu is not None:
            os.sched_setaffinity(0, allowed)


def _idle() -> None:
    """A reference process's whole job: nothing (its start and join are what is timed)."""


@dataclass(frozen=True)
class ProcessStarts:
    """`count` processes that do nothing, started with `start_method` (None: the default) and joined: what a
    strategy whose every run starts its workers pays before any work, measured in the same slot as the
    sequential reference so that the pair shares the machine's process start-up cost of that moment."""

    count: int
    start_method: str | None

    def time(self) -> float:
        context = multiprocessing.get_context(self.start_method)
        t0 = time.perf_counter()
        procs = [context.Process(target=_idle) for _ in range(self.count)]  # type: ignore[attr-defined]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        return time.perf_counter() - t0

    def __str__(self) -> str:
        method = self.start_method or multiprocessing.get_start_method()
        return f"{self.count} process start{'s' if self.count > 1 else ''} ({method})"


def process_starts(strategy_cls: type[Strategy], cell: Cell) -> ProcessStarts | None:
    """What every run of the strategy starts (one process per worker when `processes_per_run`), else None."""
    # getattr: a plugin strategy need not subclass BaseStrategy, and one that does not state the fact starts none.
    return ProcessStarts(cell.workers, cell.start_method) if getattr(strategy_cls, "processes_per_run", False) else None


class PairedReference:
    """`sequential` at the same workload point (plus `starts`, when the cell starts processes on every run),
    timed once per round right before or right after the cell's run, in a random order (pedantic's untimed
    setup and teardown): randomised interleaved trials, so each pair shares the machine's state of that moment
    and the per-pair ratio T_cell / T_reference does not carry the runner's drift."""

    def __init__(self, reference: Strategy, cpus: tuple[int, ...], seed: str,
                 starts: ProcessStarts | None = None) -> None:
        self.reference, self.cpus, self.starts = reference, cpus, starts
        self.rng = random.Random(seed)
        self.ref_times: list[float] = []  # the whole reference: sequential, plus the process starts if any
        self.sequential_times: list[float] = []
        self.cell_times: list[float] = []
        self._after = False

    def setup(self) -> tuple[tuple[PhaseClock], dict[str, Any]]:
        self._after = self.rng.random() < 0.5
        if not self._after:
            self.ref_times.append(self._reference_time())
        return fresh_round()

    def teardown(self, clock: PhaseClock) -> None:
        if self._after:
            self.ref_times.append(self._reference_time())

    def _reference_time(self) -> float:
        sequential = max(_timed_on(cpu, self.reference) for cpu in self.cpus or (None,))
        self.sequential_times.append(sequential)
        return sequential + (self.starts.time() if self.starts else 0.0)

    def describe(self) -> str:
        """What the ratio's denominator is: 'sequential', or 'sequential + 2 process starts (fork)'."""
        return "sequential" + (f" + {self.starts}" if self.starts else "")

    def summary(self, skip: int) -> dict[str, Any]:
        """extra_info fields of the timed pairs (the first `skip` are warmup)."""
        cell, ref = np.array(self.cell_times[skip:]), np.array(self.ref_times[skip:])
        sequential = np.array(self.sequential_times[skip:])
        ratios = cell / ref
        low, high = median_ci(ratios)
        pinning = f"slowest of CPUs {','.join(map(str, self.cpus))}" if self.cpus else "unpinned"
        return {
            "paired_ratio": {"reference": self.describe(), "median": float(np.median(ratios)), "ci95": [low, high],
                             "pairs": len(ratios), "ratios": [round(float(r), 6) for r in ratios],
                             "reference_cpus": pinning, "order": "randomised per round"},
            "reference_median_s": float(np.median(ref)),
            "sequential_median_s": float(np.median(sequential)),
            "speedup_vs_sequential": round(float(np.median(sequential / cell)), 3),
        }


def describe(cell: Cell, case: Case, strategy_cls: type[Strategy]) -> dict[str, Any]:
    return {"workload": cell.workload, "params": dict(cell.params), "kernel": case.kernel(),
            "strategy": cell.strategy, "family": strategy_cls.family, "workers": cell.workers,
            "start_method": cell.start_method, "options": dict(cell.options)}


def prepare(case: Case, strategy: str, workers: int) -> tuple[type[Strategy], Cell, Workload, Context]:
    """Resolve the cell; skip (saying why) when the strategy is unavailable here (fail under PARBENCH_NO_SKIP=1),
    fail when it is broken."""
    entry = registry.strategies()[strategy]
    if entry.obj is None:
        pytest.fail(f"strategy {strategy!r} is registered but broken: {entry.error}")
    cell = make_cell(case.workload, case.params, strategy, workers)
    reason = entry.obj.available(cell.start_method)
    if reason:
        unavailable(f"{strategy} is unavailable here: {reason}")
    workload = registry.get_workload(cell.workload).from_params(cell.params)
    return entry.obj, cell, workload, Context(workload, workload.make_input(), workers, cell.start_method,
                                              cell.options)


def bench_cell(benchmark: BenchmarkFixture, case: Case, strategy: str, workers: int) -> None:
    """Benchmark one cell's steady state paired with `sequential` (timed interleaved with it, unless the
    benchmark is disabled: the smoke run only checks results), assert every round's result, and attach its
    description and paired ratio to the benchmark's extra_info."""
    strategy_cls, cell, workload, ctx = prepare(case, strategy, workers)
    results: list[int] = []
    benchmark.group = case.id
    with lifecycle(strategy_cls, ctx) as instance, \
            lifecycle(registry.get_strategy("sequential"), Context(workload, ctx.data, 1)) as reference:
        pairs = PairedReference(reference, reference_cpus(workers), cell.label(), process_starts(strategy_cls, cell))
        timed = timed_run(instance, results, pairs.cell_times)
        if benchmark.enabled:
            benchmark.pedantic(timed, setup=pairs.setup, teardown=pairs.teardown,  # type: ignore[no-untyped-call]
                               rounds=case.rounds, warmup_rounds=WARMUP_ROUNDS)
        else:
            benchmark.pedantic(timed, setup=fresh_round)  # type: ignore[no-untyped-call]
    expected = workload.expected()
    wrong = [r for r in results if r != expected]
    assert results and not wrong, f"{cell.label()}: expected {expected}, got {wrong or 'no result'}"
    benchmark.extra_info.update(describe(cell, case, strategy_cls))
    if benchmark.enabled:
        benchmark.extra_info.update(pairs.summary(WARMUP_ROUNDS))
