"""pool-map and process-pool-executor: worker processes started once in setup, tasks mapped each run."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar

from parbench.errors import StrategyError, WorkerDied
from parbench.interrupts import worker_signals
from parbench.params import Param
from parbench.strategies.base import (
    PhaseClock,
    ProcessStrategy,
    describe_exception,
    run_task,
    shutdown_executor,
)
from parbench.strategies.pool_deaths import await_dead_member, dead_member, end_broken_pool

_CHUNKSIZE = Param("chunksize", int, 0, "tasks per message to a worker (0: the library's own choice)", minimum=0)
# How often the Pool is checked for dead workers while a map is pending.
_POLL_S = 0.05


def _noop(_: object) -> None:
    return None


class _Mapped(ProcessStrategy):
    """Both pools map `run_task` over the payload (workload, the task's slice, task), pickled by the pool."""

    options: ClassVar[tuple[Param, ...]] = (_CHUNKSIZE,)

    def chunksize(self) -> int:
        return int(self.ctx.options.get("chunksize", 0))


class PoolMap(_Mapped):
    """multiprocessing.Pool started in setup; Pool.map over the tasks every run (the course's Pool)."""

    name: ClassVar[str] = "pool-map"
    summary: ClassVar[str] = "multiprocessing.Pool started once; Pool.map over the tasks (slices pickled) each run"

    def setup(self) -> None:
        pool: Any = self.ctx.mp().Pool(self.ctx.workers, initializer=worker_signals)
        self.pool = pool
        # Pool.map never returns if a worker dies mid-task: keep the originals to notice that.
        self.members = list(pool._pool)  # private, but the only handle on the workers

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("compute")
        pending = self.pool.starmap_async(run_task, self.ctx.payload(), self.chunksize() or None)
        while not pending.ready():
            pending.wait(_POLL_S)
            self._check_members()
        try:
            partials = pending.get()
        except Exception as exc:
            raise StrategyError(f"a pool worker raised {describe_exception(exc)}") from exc
        clock.mark("gather")
        return self.ctx.workload.combine(partials)

    def _check_members(self) -> None:
        death = dead_member(self.members)
        if death is not None:
            raise WorkerDied(death)

    def teardown(self) -> None:
        pool = getattr(self, "pool", None)
        if pool is None:
            return
        if dead_member(self.members) is not None:
            end_broken_pool(pool, self.members)
            return
        pool.terminate()  # workers hold no state worth a graceful close
        pool.join()


class ProcessPoolExecutorStrategy(_Mapped):
    """concurrent.futures.ProcessPoolExecutor started (and warmed) in setup; executor.map every run."""

    name: ClassVar[str] = "process-pool-executor"
    summary: ClassVar[str] = "ProcessPoolExecutor started once; executor.map over the tasks each run"

    def setup(self) -> None:
        self.clean = False  # until a map has returned: teardown then kills the workers instead of waiting
        self.executor = ProcessPoolExecutor(self.ctx.workers, mp_context=self.ctx.mp(), initializer=worker_signals)
        # Workers start lazily; start them all now so runs measure the steady state.
        list(self.executor.map(_noop, range(self.ctx.workers)))
        self.members = list(self.executor._processes.values())  # private, but the only handle: names the dead
        self.clean = True

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("compute")
        self.clean = False
        try:
            partials = list(self.executor.map(run_task, *zip(*self.ctx.payload(), strict=True),
                                              chunksize=max(1, self.chunksize())))
        except BrokenProcessPool as exc:
            raise WorkerDied(await_dead_member(self.members) or f"a pool worker died: {exc}") from exc
        except Exception as exc:
            raise StrategyError(f"a pool worker raised {describe_exception(exc)}") from exc
        self.clean = True
        clock.mark("gather")
        return self.ctx.workload.combine(partials)

    def teardown(self) -> None:
        shutdown_executor(getattr(self, "executor", None), failed=not getattr(self, "clean", True))
