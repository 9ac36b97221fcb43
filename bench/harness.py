"""What every bench suite shares: the strategies it covers, and one benchmarked cell in steady state.

A benchmark builds its cell with `make_cell`, runs the strategy's `setup()` once outside the timer (pools,
servers, segments), times `run()` alone with `benchmark.pedantic` (a fresh PhaseClock per round from
pedantic's untimed `setup`), checks every round's result against the workload's exact answer, and always
calls `teardown()`.
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from parbench import registry
from parbench.errors import Unavailable
from parbench.results.schema import Cell
from parbench.runner.cells import make_cell
from parbench.strategies.base import Context, PhaseClock, Strategy
from parbench.workloads.base import Workload

# The machine here has 2 CPUs: 1 shows the strategy's overhead, 2 its speedup.
WORKERS: tuple[int, ...] = (1, 2)
# value-nolock exists to come out WRONG (the lost-update race the course warns about): an exact-result gate
# would fail on it by design, and a wrong answer has no meaningful speed. Its detection is tested in tests/.
EXCLUDED: frozenset[str] = frozenset({"value-nolock"})
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


def parse_slowdown(raw: str) -> dict[str, float]:
    """`name:seconds[,name:seconds]` -> {name: seconds}; the gate's own test uses it to fake a regression."""
    slowdown: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, seconds = item.rpartition(":")
        if not sep or not name:
            raise ValueError(f"{SLOWDOWN_ENV}: expected strategy:seconds, got {item!r}")
        slowdown[name] = float(seconds)
    return slowdown


def slowdown_for(strategy: str) -> float:
    return parse_slowdown(os.environ.get(SLOWDOWN_ENV, "")).get(strategy, 0.0)


def covered_strategies() -> list[str]:
    """Every registered strategy but the excluded ones and shadowed plugin duplicates, sequential first
    (so the speedup reference of a case is usually its own benchmark, measured before the others)."""
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


def timed_run(strategy: Strategy, results: list[int]) -> Callable[[PhaseClock], int]:
    """`strategy.run`, recording each result, slowed by PARBENCH_BENCH_SLOWDOWN when it names the strategy."""
    delay = slowdown_for(strategy.name)

    def run(clock: PhaseClock) -> int:
        if delay:
            time.sleep(delay)
        result = strategy.run(clock)
        results.append(result)
        return result

    return run


def steady_median(strategy_cls: type[Strategy], ctx: Context, rounds: int) -> float:
    """Median seconds of `rounds` runs after one warmup, timed by hand (outside pytest-benchmark)."""
    times = []
    with lifecycle(strategy_cls, ctx) as strategy:
        for i in range(WARMUP_ROUNDS + rounds):
            (clock,), _ = fresh_round()
            t0 = time.perf_counter()
            strategy.run(clock)
            if i >= WARMUP_ROUNDS:
                times.append(time.perf_counter() - t0)
    return statistics.median(times)


class SequentialTimes:
    """Median steady-state time of `sequential` per case in this session: the speedup reference."""

    def __init__(self) -> None:
        self.medians: dict[str, float] = {}

    def record(self, case: Case, median: float) -> None:
        self.medians[case.id] = median

    def get(self, case: Case) -> float:
        if case.id not in self.medians:  # its own benchmark was deselected (-k): measure it now
            workload = registry.get_workload(case.workload).from_params(case.params)
            ctx = Context(workload, workload.make_input(), 1)
            self.medians[case.id] = steady_median(registry.get_strategy("sequential"), ctx, case.rounds)
        return self.medians[case.id]


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


def bench_cell(benchmark: BenchmarkFixture, sequential: SequentialTimes, case: Case, strategy: str,
               workers: int) -> None:
    """Benchmark one cell's steady state, assert every round's result, and attach its description and
    speedup against sequential (same case, same session) to the benchmark's extra_info."""
    strategy_cls, cell, workload, ctx = prepare(case, strategy, workers)
    results: list[int] = []
    benchmark.group = case.id
    with lifecycle(strategy_cls, ctx) as instance:
        benchmark.pedantic(timed_run(instance, results), setup=fresh_round,  # type: ignore[no-untyped-call]
                           rounds=case.rounds, warmup_rounds=WARMUP_ROUNDS)
    expected = workload.expected()
    wrong = [r for r in results if r != expected]
    assert results and not wrong, f"{cell.label()}: expected {expected}, got {wrong or 'no result'}"
    benchmark.extra_info.update(describe(cell, case, strategy_cls))
    if benchmark.enabled:  # with --benchmark-disable there are no timings to relate
        _add_speedup(benchmark, sequential, case, strategy)


def _add_speedup(benchmark: BenchmarkFixture, sequential: SequentialTimes, case: Case, strategy: str) -> None:
    median = float(benchmark.stats.stats.median)  # type: ignore[union-attr]
    if strategy == "sequential":
        sequential.record(case, median)
    reference = sequential.get(case)
    benchmark.extra_info["sequential_median_s"] = reference
    benchmark.extra_info["speedup_vs_sequential"] = round(reference / median, 3) if median else None
