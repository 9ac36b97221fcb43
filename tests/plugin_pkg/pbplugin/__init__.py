"""Plugins that go wrong on purpose, for the test suite: a fault-injecting workload and broken strategies.

The plugin a user would write, complete and documented, is examples/plugin (installed beside this one).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from parbench.params import Param
from parbench.strategies import BaseStrategy, PhaseClock
from parbench.strategies.base import Family
from parbench.workloads import BaseWorkload, Task, split_range


@dataclass(frozen=True)
class Triangle(BaseWorkload):
    """sum(range(size)) with no input array: the base of Faulty (not an entry point of its own)."""

    name: ClassVar[str] = "triangle"
    summary: ClassVar[str] = "sum(range(size)), no input array"
    parameters: ClassVar[tuple[Param, ...]] = (Param("size", int, 100, "items", minimum=1),)

    size: int = 100

    def make_input(self) -> np.ndarray | None:
        return None

    def tasks(self, workers: int) -> list[Task]:
        return split_range(self.size, workers)

    def kernel(self, chunk: np.ndarray | None, task: Task) -> int:
        return sum(range(task.lo, task.hi))

    def expected(self) -> int:
        return self.size * (self.size - 1) // 2


MARKERS_ENV = "PBPLUGIN_MARKERS"


def _mark(name: str) -> None:
    """Create the file `name` in the folder $PBPLUGIN_MARKERS names, if it names one: how a test sees that a
    task finished, or settled into its hang, without sleeping for a guessed time."""
    folder = os.environ.get(MARKERS_ENV)
    if folder:
        with open(os.path.join(folder, name), "w") as marker:
            marker.write(str(os.getpid()))


@dataclass(frozen=True)
class Faulty(Triangle):
    """Like triangle, but whoever runs task 1 raises, is SIGKILLed, or hangs (mode). With $PBPLUGIN_MARKERS set,
    task 1 writes `hang-1` there as it starts hanging, and every other task `done-<index>` as it returns."""

    name: ClassVar[str] = "faulty"
    summary: ClassVar[str] = "triangle whose task 1 raises, dies or hangs"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("size", int, 100, "items", minimum=2),
        Param("mode", str, "raise", "what task 1 does", choices=("raise", "kill", "hang")),
    )

    mode: str = "raise"

    def kernel(self, chunk: np.ndarray | None, task: Task) -> int:
        if task.index == 1:
            if self.mode == "raise":
                raise ValueError("boom from task 1")
            if self.mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            _mark("hang-1")
            time.sleep(3600)
        result = super().kernel(chunk, task)
        _mark(f"done-{task.index}")
        return result


class Bare:
    """A strategy written without BaseStrategy that forgot most of the protocol: listed as broken."""

    name: ClassVar[str] = "bare"
    family: ClassVar[Family] = "sequential"

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        return None

    def setup(self) -> None:
        return None

    def run(self, clock: PhaseClock) -> int:
        return 0

    def teardown(self) -> None:
        return None


class Hollow(BaseStrategy):
    """A strategy built on BaseStrategy that forgot run(): listed as broken, never run."""

    name: ClassVar[str] = "hollow"
    family: ClassVar[Family] = "sequential"
    summary: ClassVar[str] = "inherits the placeholder run()"


class Raiser(BaseStrategy):
    """A strategy whose run() has a bug (an exception that is not a StrategyError)."""

    name: ClassVar[str] = "raiser"
    family: ClassVar[Family] = "sequential"
    summary: ClassVar[str] = "raises ValueError in run()"

    def run(self, clock: PhaseClock) -> int:
        raise ValueError("a bug in the plugin")
