"""mpire: `WorkerPool(n_jobs=workers, start_method=..., shared_objects=...)`, MPIRE's answer to Pool.

Setup starts the pool (kept alive between maps) with the workload and its input as shared objects: under
fork the workers inherit them copy-on-write, under spawn and forkserver mpire pickles them to each worker
once, at start. Every run maps the kernel over the tasks, each worker reading its slice of the shared
input, so a task message carries only the task's bounds (the whole transfer is in `setup`).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any, ClassVar

import numpy as np

from parbench.errors import StrategyError, WorkerDied
from parbench.params import Param
from parbench.strategies.base import PhaseClock, ProcessStrategy, describe_exception, plain
from parbench.strategies.optional import installed
from parbench.workloads.base import Task, Workload

_CHUNKSIZE = Param("chunksize", int, 0, "tasks per message to a worker (0: the library's own choice)", minimum=0)


def _mpire_task(shared: tuple[Workload, np.ndarray | None], task: Task) -> Any:
    """One task in an mpire worker: its slice is a view of the shared input, no copy."""
    workload, data = shared
    return workload.kernel(workload.chunk(data, task), task)


def _noop(_shared: object, _item: int) -> None:
    return None


class MpireStrategy(ProcessStrategy):
    """mpire.WorkerPool started once with the input as shared objects; pool.map over the tasks every run."""

    name: ClassVar[str] = "mpire"
    pip_extra: ClassVar[str | None] = "mpire"
    summary: ClassVar[str] = ("mpire WorkerPool started once, input as shared objects (inherited under fork); "
                              "map over the tasks each run")
    options: ClassVar[tuple[Param, ...]] = (_CHUNKSIZE,)

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        if not installed("mpire"):
            return "the mpire package is not installed (pip install 'parbench[mpire]')"
        return super().available(start_method)

    def setup(self) -> None:
        from mpire.pool import WorkerPool

        self.pool: Any = WorkerPool(n_jobs=self.ctx.workers, start_method=self.ctx.start_method or "fork",
                                    shared_objects=(self.ctx.workload, self.ctx.data), keep_alive=True)
        # Workers start at the first map: start them now, so runs measure the steady state.
        self._map(_noop, list(range(self.ctx.workers)), 1)

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("compute")
        chunksize = int(self.ctx.options.get("chunksize", 0)) or None
        partials = self._map(_mpire_task, self.ctx.tasks(), chunksize)
        clock.mark("gather")
        return self.ctx.workload.combine(plain(p) for p in partials)

    def _map(self, func: Any, items: list[Any], chunksize: int | None) -> list[Any]:
        try:
            return list(self.pool.map(func, [(item,) for item in items], iterable_len=len(items),
                                      chunk_size=chunksize, progress_bar=False))
        except Exception as exc:  # a task raised, or a worker died
            # mpire says a worker died only in its message ("Worker-0 died unexpectedly"): that is a crash.
            kind = WorkerDied if "died unexpectedly" in str(exc) else StrategyError
            raise kind(f"an mpire worker failed: {describe_exception(exc)}") from exc

    def teardown(self) -> None:
        pool = getattr(self, "pool", None)
        if pool is not None:
            self.pool = None
            pool.terminate()  # workers hold no state worth a graceful join; terminate never waits on a task

    def extra(self) -> dict[str, Any]:
        return {"mpire_version": version("mpire"), "n_jobs": self.ctx.workers}
