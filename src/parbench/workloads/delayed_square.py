"""delayed-square: the course's `sleep(delay); x*x` over range(size), summed (I/O-like, GIL-free work)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from parbench.params import Param
from parbench.workloads.base import BaseWorkload, Task, Work
from parbench.workloads.portable import sleep_squares

# A day per item is never what anyone meant.
MAX_DELAY = 86_400.0


@dataclass(frozen=True)
class DelayedSquare(BaseWorkload):
    """sum(x*x for x in range(size)), each item sleeping `delay` seconds first; one task per item."""

    name: ClassVar[str] = "delayed-square"
    summary: ClassVar[str] = "sleep(delay) then x*x for x in range(size), summed; one task per item"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("size", int, 8, "number of items", minimum=1, maximum=1_000_000),
        Param("delay", float, 0.1, "seconds slept per item", minimum=0.0, maximum=MAX_DELAY),
    )

    size: int = 8
    delay: float = 0.1

    def make_input(self) -> np.ndarray | None:
        return None

    def tasks(self, workers: int) -> list[Task]:
        # One task per item, as the course maps delayed_square over the data: pools balance them.
        return [Task(x, x, x + 1) for x in range(self.size)]

    def work(self) -> Work:
        return Work(self.size, "sleep", self.delay)

    def cpu_bound(self) -> bool:
        return not self.delay  # sleeping is waiting, not computing

    def kernel(self, chunk: np.ndarray | None, task: Task) -> int:
        return sleep_squares(None, task.lo, task.hi, self.delay)

    def portable(self, task: Task) -> tuple[str, tuple[object, ...]] | None:
        """What a subinterpreter runs for `task` (parbench.workloads.portable)."""
        return "sleep_squares", (task.lo, task.hi, self.delay)

    def expected(self) -> int:
        n = self.size
        return (n - 1) * n * (2 * n - 1) // 6
