"""imap-unordered: a multiprocessing.Pool started once per cell, Pool.imap_unordered over the tasks each run."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from parbench.errors import StrategyError
from parbench.interrupts import worker_signals
from parbench.params import Param
from parbench.strategies import PhaseClock, ProcessStrategy
from parbench.strategies.base import describe_exception, run_task
from parbench.workloads import Task, Workload


def _one_task(args: tuple[Workload, np.ndarray | None, Task]) -> Any:
    """In a pool worker: one task. Module-level, so that spawn and forkserver workers can unpickle it."""
    return run_task(*args)


class ImapUnordered(ProcessStrategy):
    """Workers started in setup (their start-up shows in end-to-end time, not in each run); each run sends every
    task's slice through the pool's pipes and combines the partials in the order they finish."""

    # ProcessStrategy says family = "processes" and uses_start_method = True (--start-method applies), and the
    # cost facts of a pool, for the sweep's estimate: input_travel = "every-run", setup_starts = "workers".
    name: ClassVar[str] = "imap-unordered"
    summary: ClassVar[str] = "multiprocessing.Pool started once; Pool.imap_unordered over the tasks each run"
    # Options are declared like workload parameters; users set them with -o chunksize=4 (or --chunksize).
    options: ClassVar[tuple[Param, ...]] = (
        Param("chunksize", int, 1, "tasks per message to a worker", minimum=1, maximum=10_000),
    )

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        """None when it can run here, else why not (shown by `parbench list`; such a cell is UNAVAILABLE)."""
        reason = super().available(start_method)  # the start method exists on this platform
        if reason:
            return reason
        try:
            import multiprocessing.synchronize  # noqa: F401  # Pool needs semaphores (sem_open)
        except ImportError:
            return "this platform has no working sem_open, which multiprocessing.Pool needs"
        return None

    def setup(self) -> None:
        # self.ctx (parbench.strategies.Context): the workload, its input, the worker count, start method, options.
        self.pool: Any = self.ctx.mp().Pool(self.ctx.workers, initializer=worker_signals)

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("scatter")  # phases: the time until the next mark (or the end of run) counts as this one
        payload = self.ctx.payload()  # (workload, the task's slice, task) per task: run_task's arguments
        clock.mark("compute")
        try:
            partials = list(self.pool.imap_unordered(_one_task, payload, int(self.ctx.options["chunksize"])))
        except Exception as exc:  # a worker raised: one line, the cell is ERROR (not a parbench bug)
            raise StrategyError(f"a pool worker raised {describe_exception(exc)}") from exc
        clock.mark("gather")
        return self.ctx.workload.combine(partials)  # the workload decides how partials add up

    def teardown(self) -> None:
        # Called even when setup or run raised: release everything setup may have started.
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.terminate()
            pool.join()

    def extra(self) -> dict[str, Any]:
        return {"chunksize": int(self.ctx.options["chunksize"])}  # recorded in the record's `extra`
