"""process-queue: a Process per worker per run; slices and partials travel through two mp.Queues."""

from __future__ import annotations

import multiprocessing.connection
import queue
from typing import Any, ClassVar

from parbench.errors import StrategyError
from parbench.strategies.base import (
    Crew,
    InputTravel,
    PhaseClock,
    ProcessStrategy,
    SetupStarts,
    compute_share,
    window_of,
)
from parbench.workloads.base import Workload

# The partials are on their way once every worker reported; this only bounds a lost message.
_GATHER_TIMEOUT_S = 30.0


def _queue_worker(conn: multiprocessing.connection.Connection, workload: Workload, inbox: Any, outbox: Any) -> None:
    index, tasks, window = inbox.get()
    outbox.put((index, compute_share(workload, window, tasks[0].lo, tasks)))


class ProcessQueue(ProcessStrategy):
    """The course's Queue exchange: put each share on an inbox queue, get the partials from an outbox."""

    name: ClassVar[str] = "process-queue"
    processes_per_run: ClassVar[bool] = True
    input_travel: ClassVar[InputTravel] = "every-run"
    setup_starts: ClassVar[SetupStarts] = "nothing"
    summary: ClassVar[str] = "a Process per worker per run; slices and partials pickled through two mp.Queues"

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("spawn")
        ctx, shares = self.ctx, self.ctx.shares()
        mp = ctx.mp()
        inbox, outbox = mp.Queue(), mp.Queue()
        try:
            with Crew(mp, _queue_worker, [(ctx.workload, inbox, outbox)] * len(shares)) as crew:
                crew.start()
                clock.mark("scatter")
                # Queue.put hands the object to a feeder thread: pickling and writing overlap with compute.
                for index, tasks in enumerate(shares):
                    inbox.put((index, tasks, window_of(ctx.data, tasks)))
                clock.mark("compute")
                crew.wait()
                clock.mark("gather")
                return ctx.workload.combine(_drain(outbox, len(shares)))
        finally:
            for q in (inbox, outbox):
                q.cancel_join_thread()  # never block teardown on data a dead worker left unread
                q.close()


def _drain(outbox: Any, count: int) -> list[int]:
    partials: dict[int, int] = {}
    try:
        while len(partials) < count:
            index, value = outbox.get(timeout=_GATHER_TIMEOUT_S)
            partials[index] = value
    except queue.Empty:
        raise StrategyError(f"only {len(partials)} of {count} partials arrived on the queue") from None
    return [partials[i] for i in range(count)]
