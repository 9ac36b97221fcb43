"""sequential: the baseline every speedup is measured against."""

from __future__ import annotations

from typing import Any, ClassVar

from parbench.strategies.base import BaseStrategy, Family, PhaseClock, compute_share


class Sequential(BaseStrategy):
    """One process, one thread, the tasks one after the other."""

    name: ClassVar[str] = "sequential"
    family: ClassVar[Family] = "sequential"
    summary: ClassVar[str] = "one process, one thread: the baseline of every speedup"
    max_workers: ClassVar[int | None] = 1

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("compute")
        workload = self.ctx.workload
        return compute_share(workload, self.ctx.data, 0, workload.tasks(1))
