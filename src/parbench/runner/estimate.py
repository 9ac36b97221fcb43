"""How long a planned cell will take, from a coarse cost model of this kind of machine.

Used by `--dry-run` (the total) and by the progress bar (each cell advances it by its estimate, so the
ETA weighs a 10^7-element cell more than a 10^4 one). Aims at a factor of two, not at precision: the
figures below were measured on the 2-core development machine; calibration (which a dry run also runs)
replaces them with this machine's: the python loop, memory and pipe bandwidth, process start costs.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from parbench import registry
from parbench.errors import UserError
from parbench.runner.plan import PlannedCell
from parbench.strategies.base import Strategy
from parbench.workloads.base import Work

EXEC_PROBE_S = 0.35


@dataclass(frozen=True)
class Costs:
    """Machine constants (seconds, bytes per second) the model is built from."""

    probe_s: float = 0.08  # fork a probe from the server, pin, measure's own bookkeeping, clean up
    canary_s: float = 0.006  # runner.canary, before and after the cell, per CPU the probe holds
    repeat_s: float = 0.004  # per repeat around run(): gc.collect and the CPU-time bookkeeping
    python_item_s: float = 50e-9  # array-sum python kernel, per element
    memory_bytes_per_s: float = 8e9  # numpy sum, in practice (below the calibrated best)
    copy_bytes_per_s: float = 0.6e9  # through a Pipe or pickled into a Queue, both ends
    input_bytes_per_s: float = 1.5e9  # building the input array
    sleep_overshoot_s: float = 80e-6
    cluster_setup_s: float = 2.0  # distributed strategies: start a local cluster
    start_s: Mapping[str, float] = field(default_factory=lambda: {"fork": 0.006, "spawn": 0.25,
                                                                  "forkserver": 0.2})

    @classmethod
    def for_sweep(cls, isolation: str, figures: Mapping[str, Any] | None = None) -> Costs:
        """The costs of a sweep run with `isolation`, calibrated when figures are known."""
        # exec starts an interpreter and imports numpy and parbench for every cell.
        costs = cls(probe_s=EXEC_PROBE_S) if isolation == "exec" else cls()
        return costs.calibrated(figures)

    def calibrated(self, figures: Mapping[str, Any] | None) -> Costs:
        """These costs with this machine's process start times, when calibration measured them."""
        if not figures:
            return self
        starts = {m: ns / 1e9 * 1.5 for m, ns in figures.get("process_start_ns", {}).items()}
        costs = replace(self, start_s={**self.start_s, **starts})
        # The ratios turn a primitive's best case into what a strategy gets in practice (measured here).
        if "python_loop_ns_per_item" in figures:
            costs = replace(costs, python_item_s=figures["python_loop_ns_per_item"] * 1.1e-9)
        if "memory_bandwidth_bytes_per_s" in figures:
            costs = replace(costs, memory_bytes_per_s=figures["memory_bandwidth_bytes_per_s"] * 0.6)
        if "pipe_bytes_per_s" in figures:
            costs = replace(costs, copy_bytes_per_s=figures["pipe_bytes_per_s"] * 0.4)
        return costs


@functools.cache
def _point(workload: str, params: str) -> tuple[Work, int]:
    """The point's work and the bytes its input weighs (for the copies a strategy makes of it), as the workload
    says (Work, bytes_touched)."""
    raw = json.loads(params)
    try:
        point = registry.make_workload(workload, raw)
    except Exception:  # a plugin that cannot say: its size as python items, no copy cost; the sweep still runs
        return Work(int(raw.get("size", 1))), 0
    work = point.work() if hasattr(point, "work") else Work(int(raw.get("size", 1)))
    return work, point.bytes_touched()


def _work(planned: PlannedCell) -> tuple[Work, int]:
    return _point(planned.cell.workload, json.dumps(dict(planned.cell.params), sort_keys=True))


@functools.cache
def _strategy(name: str) -> type[Strategy] | None:
    """The strategy's class, whose facts (processes_per_run, input_travel, setup_starts) price it."""
    try:
        return registry.get_strategy(name)
    except UserError:
        return None


def _compute_s(planned: PlannedCell, costs: Costs, cpus: int) -> float:
    """The run's compute part: the work over the workers that can really run at once."""
    work, _ = _work(planned)
    lanes = min(planned.cell.workers, cpus)
    if work.kernel == "sleep":  # sleeping needs no CPU: every worker waits at once
        return math.ceil(work.items / planned.cell.workers) * (work.sleep_s + costs.sleep_overshoot_s)
    if work.kernel == "numpy":
        total = work.items * 8 / costs.memory_bytes_per_s
    else:
        total = work.items * costs.python_item_s
        if planned.family == "threads":
            lanes = 1  # the GIL
    return total / max(1, lanes) if planned.family != "sequential" else total


def _copies(strategy: type[Strategy], start_method: str | None) -> bool:
    """Whether a run sends the input to the workers (a pipe, a queue, pickled arguments)."""
    travel = getattr(strategy, "input_travel", "every-run")
    return travel == "every-run" or (travel == "when-pickled" and start_method in ("spawn", "forkserver"))


def _run_s(planned: PlannedCell, costs: Costs, cpus: int) -> float:
    cell = planned.cell
    run = _compute_s(planned, costs, cpus)
    strategy = _strategy(cell.strategy)
    if strategy is None:
        return run
    if getattr(strategy, "processes_per_run", False):
        run += cell.workers * costs.start_s.get(cell.start_method or "fork", 0.05)
    if _copies(strategy, cell.start_method):
        run += _work(planned)[1] / costs.copy_bytes_per_s
    if planned.family == "threads":
        run += cell.workers * 1e-4
    return run


def _setup_s(planned: PlannedCell, costs: Costs) -> float:
    starts = getattr(_strategy(planned.cell.strategy), "setup_starts", "nothing")
    if starts == "cluster":
        return costs.cluster_setup_s
    if starts == "workers":
        return planned.cell.workers * costs.start_s.get(planned.cell.start_method or "fork", 0.05)
    return 0.0


def _reference_s(planned: PlannedCell, costs: Costs, cpus: int) -> float:
    """One run of the sequential reference paired with each timed repeat of a parallel cell (runner.measure)."""
    if planned.cell.strategy == "sequential":
        return 0.0
    alone = replace(planned, cell=replace(planned.cell, strategy="sequential", workers=1), family="sequential")
    return _compute_s(alone, costs, cpus) + costs.repeat_s


def estimate_cell(planned: PlannedCell, repeat: int, warmup: int, cpus: int, costs: Costs = Costs()) -> float:
    """Seconds the driver will spend on this cell, start to end."""
    if planned.unavailable:
        return 0.0
    nbytes = _work(planned)[1]
    runs = (repeat + warmup) * (_run_s(planned, costs, cpus) + costs.repeat_s) + repeat * _reference_s(
        planned, costs, cpus)
    canary = costs.canary_s * min(planned.cell.workers, cpus)
    return costs.probe_s + canary + nbytes / costs.input_bytes_per_s + _setup_s(planned, costs) + runs


# Besides the cells: calibration at the start, the summary and report.html at the end (seconds, measured here).
FIXED_S = 4.0


def total_estimate(visits: Sequence[PlannedCell], per_cell: Mapping[str, float]) -> float:
    """The whole sweep: every visit of every cell (`per_cell` is keyed by cell), plus the fixed costs."""
    return FIXED_S + sum(per_cell.get(v.cell.key(), 0.0) for v in visits)
