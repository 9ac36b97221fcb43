"""value-lock and value-nolock: workers add their partials into one shared mp.Value.

value-lock guards each read-modify-write with a Lock (the course's `with verrou: cumul.value += ...`).
value-nolock does not: two workers that read the same old value lose one update, so with small batches
on two or more CPUs its result comes out WRONG. That is its purpose: the race the course warns about.
"""

from __future__ import annotations

import multiprocessing.connection
from typing import Any, ClassVar

import numpy as np

from parbench.params import Param
from parbench.strategies.base import Crew, InputTravel, PhaseClock, ProcessStrategy, SetupStarts, window_of
from parbench.workloads.base import Task, Workload


def _value_worker(conn: multiprocessing.connection.Connection, workload: Workload, window: np.ndarray | None,
                  tasks: list[Task], total: Any, lock: Any, batch: int) -> None:
    offset = tasks[0].lo
    for task in tasks:
        for sub in task.split(batch):
            partial = workload.kernel(workload.chunk(window, sub, offset), sub)
            if lock is None:
                total.value += partial  # read, add, write: unprotected on purpose
            else:
                with lock:
                    total.value += partial


class ValueLock(ProcessStrategy):
    """A Process per worker per run (slice passed as an argument), partials added to a Value under a Lock."""

    name: ClassVar[str] = "value-lock"
    processes_per_run: ClassVar[bool] = True
    input_travel: ClassVar[InputTravel] = "when-pickled"
    setup_starts: ClassVar[SetupStarts] = "nothing"
    summary: ClassVar[str] = "a Process per worker per run; partials added into one mp.Value under an mp.Lock"
    options: ClassVar[tuple[Param, ...]] = (
        Param("batch", int, 0, "items per shared update (0: one update per task)", minimum=0),
    )
    locked: ClassVar[bool] = True
    int64_partials: ClassVar[bool] = True  # added into an mp.Value("q")

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("spawn")
        ctx, shares = self.ctx, self.ctx.shares()
        mp = ctx.mp()
        total = mp.Value("q", 0, lock=False)
        lock = mp.Lock() if self.locked else None
        args = [(ctx.workload, window_of(ctx.data, tasks), tasks, total, lock, self.batch()) for tasks in shares]
        with Crew(mp, _value_worker, args) as crew:
            crew.start()
            clock.mark("compute")
            crew.wait()
            clock.mark("gather")
            return int(total.value)

    def batch(self) -> int:
        return int(self.ctx.options.get("batch", self.options[0].default))

    def extra(self) -> dict[str, Any]:
        # With few updates (delayed-square's handful of items, or --batch 0: one per task) value-nolock rarely
        # loses one: its OK then means no update was lost in that run, not that the code is correct.
        return {"updates": sum(len(task.split(self.batch())) for task in self.ctx.tasks())}


class ValueNoLock(ValueLock):
    """value-lock without the Lock, updating once per item by default: the race, caught as WRONG."""

    name: ClassVar[str] = "value-nolock"
    summary: ClassVar[str] = "value-lock without the Lock: lost updates, so the result comes out WRONG"
    options: ClassVar[tuple[Param, ...]] = (
        Param("batch", int, 1, "items per shared update (1: the course's per-item increment)", minimum=0),
    )
    locked: ClassVar[bool] = False
    by_name_only: ClassVar[bool] = True  # its purpose is to come out WRONG
