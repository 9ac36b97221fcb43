"""The bench suites' coverage rules: which strategies they parametrise over, skips with reasons (failures under
PARBENCH_NO_SKIP=1), the slowdown hook."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any, ClassVar

import psutil
import pytest

from conftest import NO_SKIP_ENV, ROOT
from parbench import registry
from parbench.errors import Unavailable
from parbench.registry import Entry
from parbench.runner.cells import make_cell
from parbench.strategies.base import BaseStrategy, Context, Family


def _load_harness() -> object:
    # bench/ is not a package; load its harness by path rather than putting bench/ on sys.path, where its
    # conftest.py would shadow tests/conftest.py for `from conftest import ...`.
    path = ROOT / "bench" / "harness.py"
    spec = importlib.util.spec_from_file_location("bench_harness", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


harness: Any = _load_harness()

CASE = harness.Case("tiny", "delayed-square", {"size": 2, "delay": 0.0}, rounds=1)


class NeedsGpu(BaseStrategy):
    name: ClassVar[str] = "needs-gpu"
    family: ClassVar[Family] = "distributed"

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        return "no GPU on this machine"


class NoRoom(BaseStrategy):
    name: ClassVar[str] = "no-room"
    family: ClassVar[Family] = "processes"
    torn_down: ClassVar[list[bool]] = []

    def setup(self) -> None:
        raise Unavailable("no room in /dev/shm")

    def teardown(self) -> None:
        self.torn_down.append(True)


def test_every_registered_strategy_but_value_nolock_is_covered_sequential_first() -> None:
    """The suites cover all registered strategies except value-nolock and subinterpreters (measured under 3.13 by
    tests/test_gil.py), with sequential measured first."""
    covered = harness.covered_strategies()
    assert covered[0] == "sequential"
    assert set(covered) == {e.name for e in registry.strategies().values()} - {"value-nolock", "subinterpreters"}


def test_workers_respect_a_strategys_limit() -> None:
    """sequential (at most 1 worker) gets x1 only; the others get both worker counts."""
    ids = [p.id for p in harness.strategy_params([CASE])]
    assert "tiny-sequential-x1" in ids and "tiny-sequential-x2" not in ids
    assert {"tiny-pool-map-x1", "tiny-pool-map-x2"} <= set(ids)


def test_an_unavailable_strategy_is_skipped_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registered strategy whose available() gives a reason is skipped, and the skip says that reason."""
    entries = {**registry.strategies(), "needs-gpu": Entry("needs-gpu", "x:NeedsGpu", "test", obj=NeedsGpu)}
    monkeypatch.setattr(registry, "strategies", lambda: entries)
    monkeypatch.delenv(NO_SKIP_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no GPU on this machine"):
        harness.prepare(CASE, "needs-gpu", 1)


def test_under_no_skip_an_unavailable_strategy_fails_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """With PARBENCH_NO_SKIP=1 (CI's bench smoke run) the same strategy fails its benchmark, saying why."""
    entries = {**registry.strategies(), "needs-gpu": Entry("needs-gpu", "x:NeedsGpu", "test", obj=NeedsGpu)}
    monkeypatch.setattr(registry, "strategies", lambda: entries)
    monkeypatch.setenv(NO_SKIP_ENV, "1")
    assert harness.NO_SKIP_ENV == NO_SKIP_ENV
    with pytest.raises(pytest.fail.Exception, match="PARBENCH_NO_SKIP=1 but needs-gpu is unavailable here: no GPU"):
        harness.prepare(CASE, "needs-gpu", 1)


@pytest.mark.parametrize(("no_skip", "outcome"), [("", pytest.skip.Exception), ("1", pytest.fail.Exception)])
def test_unavailable_raised_in_setup_skips_or_under_no_skip_fails_and_tears_down(
        monkeypatch: pytest.MonkeyPatch, no_skip: str, outcome: type[BaseException]) -> None:
    """Unavailable from setup() (no room in /dev/shm, say) skips the benchmark, or fails it under
    PARBENCH_NO_SKIP=1, with the reason; teardown() runs either way."""
    monkeypatch.setenv(NO_SKIP_ENV, no_skip)
    NoRoom.torn_down.clear()
    workload = registry.get_workload(CASE.workload).from_params(CASE.params)
    body_ran = []
    with pytest.raises(outcome, match="no-room is unavailable here: no room in /dev/shm"), \
            harness.lifecycle(NoRoom, Context(workload, workload.make_input(), 1)):
        body_ran.append(True)
    assert body_ran == []
    assert NoRoom.torn_down == [True]


def test_distributed_strategies_carry_the_cluster_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    """Strategies of the distributed family are marked `cluster`, so they can be run or left out as a group."""
    entries = {**registry.strategies(), "needs-gpu": Entry("needs-gpu", "x:NeedsGpu", "test", obj=NeedsGpu)}
    monkeypatch.setattr(registry, "strategies", lambda: entries)
    marked = {p.id for p in harness.strategy_params([CASE]) if any(m.name == "cluster" for m in p.marks)}
    # dask, dispy, ray and the MPI ranks are distributed; joblib and mpire (processes on this machine) and the rest
    # are not.
    distributed = ("needs-gpu", "dask", "dispy", "ray", "mpi", "mpi-pickle")
    assert marked == {f"tiny-{name}-x{n}" for name in distributed for n in (1, 2)}


def test_slowdown_spec_parses_and_rejects_garbage() -> None:
    """PARBENCH_BENCH_SLOWDOWN takes name:seconds or name:FACTORx items; an item without a name is an error."""
    parsed = harness.parse_slowdown("threads:0.1, pool-map:1.3x")
    assert parsed == {"threads": harness.Slowdown(seconds=0.1), "pool-map": harness.Slowdown(factor=1.3)}
    assert parsed["pool-map"].extra(0.5) == pytest.approx(0.15)
    assert parsed["threads"].extra(0.5) == pytest.approx(0.1)
    assert harness.parse_slowdown("") == {}
    with pytest.raises(ValueError, match="strategy:seconds or strategy:FACTORx"):
        harness.parse_slowdown("0.5")


class CountingReference:
    """Stands in for the sequential reference: counts its runs."""

    def __init__(self) -> None:
        self.runs = 0

    def run(self, clock: object) -> int:
        self.runs += 1
        return 0


def test_the_reference_runs_once_per_round_before_or_after_the_cell_in_random_order() -> None:
    """Over 40 rounds, one reference run per round, some before the cell's run (in setup) and some after (in
    teardown), and the summary pairs them round by round, leaving the warmup out."""
    reference = CountingReference()
    pairs = harness.PairedReference(reference, (), seed="cell")
    order = []
    for _ in range(40):
        before = reference.runs
        (clock,), _ = pairs.setup()
        order.append("before" if reference.runs > before else "after")
        pairs.cell_times.append(0.002)
        pairs.teardown(clock)
    assert reference.runs == 40 and set(order) == {"before", "after"}
    summary = pairs.summary(skip=1)["paired_ratio"]
    assert summary["pairs"] == 39 == len(summary["ratios"]) and summary["reference"] == "sequential"
    assert summary["ci95"][0] <= summary["median"] <= summary["ci95"][1]


def test_a_one_worker_cell_gets_an_unpinned_reference() -> None:
    """Only a cell as wide as every CPU we may use is paired with the slowest per-CPU reference run."""
    assert harness.reference_cpus(1) == ()
    allowed = sorted(os.sched_getaffinity(0))
    expected = tuple(allowed) if len(allowed) == 2 else ()
    assert harness.reference_cpus(2) == expected


def test_a_strategy_that_starts_processes_every_run_is_paired_with_as_many_process_starts() -> None:
    """process-pipe x2 (processes_per_run) gets sequential + 2 process starts with its start method; threads and
    pool-map (workers started once, in setup) get sequential alone; the starts really start and join processes."""
    pipe = make_cell("array-sum", {"size": 1000}, "process-pipe", 2, start_method="fork")
    starts = harness.process_starts(registry.get_strategy("process-pipe"), pipe)
    assert starts == harness.ProcessStarts(2, "fork") and str(starts) == "2 process starts (fork)"
    for name in ("threads", "pool-map"):
        assert harness.process_starts(registry.get_strategy(name), make_cell("array-sum", {"size": 1000}, name, 2)) \
            is None
    before = set(psutil.Process().children(recursive=True))
    assert starts.time() > 0
    assert set(psutil.Process().children(recursive=True)) == before
    pairs = harness.PairedReference(CountingReference(), (), "cell", starts)
    assert pairs.describe() == "sequential + 2 process starts (fork)"
