"""threads and thread-pool: parallel only where the kernel releases the GIL (numpy, sleep)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from parbench.errors import StrategyError
from parbench.strategies.base import (
    BaseStrategy,
    Family,
    PhaseClock,
    compute_share,
    describe_exception,
    run_task,
    shutdown_executor,
    window_of,
)
from parbench.workloads.base import Task


class Threads(BaseStrategy):
    """One threading.Thread per worker, started and joined every run (the course's Thread example)."""

    name: ClassVar[str] = "threads"
    family: ClassVar[Family] = "threads"
    summary: ClassVar[str] = "a threading.Thread per worker per run; shared memory for free, but one GIL"

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("spawn")
        ctx, shares = self.ctx, self.ctx.shares()
        partials: list[int] = [0] * len(shares)
        errors: list[str] = []
        go = threading.Event()  # so that `spawn` times thread starts alone, not the first threads' work

        def work(i: int, tasks: list[Task]) -> None:
            go.wait()
            try:
                partials[i] = compute_share(ctx.workload, window_of(ctx.data, tasks), tasks[0].lo, tasks)
            except BaseException as exc:
                errors.append(f"thread {i} raised {describe_exception(exc)}")

        threads = [threading.Thread(target=work, args=(i, t), daemon=True) for i, t in enumerate(shares)]
        started: list[threading.Thread] = []
        try:
            for thread in threads:
                thread.start()
                started.append(thread)
            clock.mark("compute")
        finally:
            go.set()  # also when a start failed: the threads already started would wait on `go` forever
            for thread in started:
                thread.join()
        clock.mark("gather")
        if errors:
            raise StrategyError(errors[0])
        return ctx.workload.combine(partials)


class ThreadPool(BaseStrategy):
    """A ThreadPoolExecutor started once in setup; `map` over the tasks every run."""

    name: ClassVar[str] = "thread-pool"
    family: ClassVar[Family] = "threads"
    summary: ClassVar[str] = "concurrent.futures.ThreadPoolExecutor.map over the tasks; threads kept warm"

    def setup(self) -> None:
        self.clean = False  # until a map has returned: teardown then does not wait for a thread that may hang
        self.executor = ThreadPoolExecutor(max_workers=self.ctx.workers, thread_name_prefix="parbench")
        # Start every thread now so that runs measure the steady state, not lazy thread creation.
        barrier = threading.Barrier(self.ctx.workers, timeout=60)
        list(self.executor.map(lambda _: barrier.wait(), range(self.ctx.workers)))
        self.clean = True

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("compute")
        self.clean = False
        try:
            partials = list(self.executor.map(run_task, *zip(*self.ctx.payload(), strict=True)))
        except Exception as exc:
            raise StrategyError(f"a pool thread raised {describe_exception(exc)}") from exc
        self.clean = True
        clock.mark("gather")
        return self.ctx.workload.combine(partials)

    def teardown(self) -> None:
        shutdown_executor(getattr(self, "executor", None), failed=not getattr(self, "clean", True))
