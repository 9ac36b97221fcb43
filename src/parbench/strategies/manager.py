"""manager: partials written into a Manager().dict(), a proxy to a server process."""

from __future__ import annotations

import multiprocessing.connection
from multiprocessing.managers import SyncManager
from typing import Any, ClassVar

import numpy as np

from parbench.interrupts import worker_signals
from parbench.strategies.base import (
    Crew,
    InputTravel,
    PhaseClock,
    ProcessStrategy,
    SetupStarts,
    compute_share,
    window_of,
)
from parbench.workloads.base import Task, Workload


def _manager_worker(conn: multiprocessing.connection.Connection, workload: Workload, window: np.ndarray | None,
                    tasks: list[Task], index: int, results: Any) -> None:
    results[index] = compute_share(workload, window, tasks[0].lo, tasks)


class ManagerDict(ProcessStrategy):
    """A Manager server started in setup; a Process per worker per run writes its partial into a dict proxy."""

    name: ClassVar[str] = "manager"
    processes_per_run: ClassVar[bool] = True
    input_travel: ClassVar[InputTravel] = "when-pickled"
    setup_starts: ClassVar[SetupStarts] = "workers"  # the manager's server process
    summary: ClassVar[str] = "a Process per worker per run; partials written into a Manager().dict() proxy"

    def setup(self) -> None:
        # mp.Manager() without its default: the server is a worker too, so Ctrl-C is left to this process
        # (else the server dies of it and the next proxy call is a bare EOFError, not a worker failure).
        manager = SyncManager(ctx=self.ctx.mp())
        manager.start(worker_signals)
        self.manager = manager

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("spawn")
        ctx, shares = self.ctx, self.ctx.shares()
        results = self.manager.dict()
        args = [(ctx.workload, window_of(ctx.data, tasks), tasks, i, results) for i, tasks in enumerate(shares)]
        with Crew(ctx.mp(), _manager_worker, args) as crew:
            crew.start()
            clock.mark("compute")
            crew.wait()
            clock.mark("gather")
            partials = results.copy()
            return ctx.workload.combine(partials[i] for i in range(len(shares)))

    def teardown(self) -> None:
        manager = getattr(self, "manager", None)
        if manager is not None:
            manager.shutdown()
