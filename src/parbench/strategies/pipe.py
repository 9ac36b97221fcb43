"""process-pipe: a Process per worker per run; its slice goes down a Pipe, its partial comes back up."""

from __future__ import annotations

import contextlib
import multiprocessing.connection
from typing import Any, ClassVar

import numpy as np

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


def _pipe_worker(conn: multiprocessing.connection.Connection, workload: Workload, tasks: list[Task],
                 has_data: bool) -> Any:
    # Raw bytes, no pickle: the copy through the kernel's pipe is the whole transfer cost.
    window = np.frombuffer(conn.recv_bytes(), dtype=np.int64) if has_data else None
    return compute_share(workload, window, tasks[0].lo, tasks)


class ProcessPipe(ProcessStrategy):
    """The course's Pipe sum: each child receives its slice with recv_bytes and sends its partial back."""

    name: ClassVar[str] = "process-pipe"
    processes_per_run: ClassVar[bool] = True
    input_travel: ClassVar[InputTravel] = "every-run"
    setup_starts: ClassVar[SetupStarts] = "nothing"
    summary: ClassVar[str] = "a Process per worker per run; slice sent down a Pipe (send_bytes), partial sent back"
    int64_input: ClassVar[bool] = True  # send_bytes of the raw slice

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("spawn")
        ctx, shares = self.ctx, self.ctx.shares()
        with Crew(ctx.mp(), _pipe_worker, [(ctx.workload, tasks, ctx.data is not None) for tasks in shares]) as crew:
            crew.start()
            clock.mark("scatter")
            for conn, tasks in zip(crew.conns, shares, strict=True):
                window = window_of(ctx.data, tasks)
                if window is not None:
                    _send_quietly(conn, window)
            clock.mark("compute")
            partials = crew.wait()
            clock.mark("gather")
            return ctx.workload.combine(partials)


def _send_quietly(conn: multiprocessing.connection.Connection, window: np.ndarray) -> None:
    with contextlib.suppress(OSError):  # the worker died before reading: Crew.wait() reports how
        conn.send_bytes(memoryview(window))  # type: ignore[arg-type]
