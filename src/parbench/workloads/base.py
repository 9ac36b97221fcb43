"""The workload interface.

A workload instance is its validated parameters (a frozen dataclass), so it pickles to any worker process
under fork, spawn or forkserver and its methods need no other state. Its input is an int64 numpy array
(or None when the work needs no data); a task is a half-open index range [lo, hi) into that input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self

import numpy as np

from parbench.params import Param, resolve


@dataclass(frozen=True, slots=True)
class Task:
    """One unit of work: the index range [lo, hi) of the input."""

    index: int
    lo: int
    hi: int

    def split(self, batch: int) -> list[Task]:
        """Sub-tasks of at most `batch` items (the granularity of a shared update)."""
        if batch <= 0 or batch >= self.hi - self.lo:
            return [self]
        return [Task(self.index, lo, min(lo + batch, self.hi)) for lo in range(self.lo, self.hi, batch)]


def split_range(size: int, parts: int) -> list[Task]:
    """`parts` contiguous tasks covering range(size), sizes differing by at most one; none empty."""
    parts = max(1, min(parts, size))
    bounds = [size * i // parts for i in range(parts + 1)]
    return [Task(i, bounds[i], bounds[i + 1]) for i in range(parts)]


@dataclass(frozen=True)
class Work:
    """What the sweep's estimate (runner.estimate) needs of a workload point: how many items, and what one
    costs: a `python` loop step (holds the GIL), 8 bytes of `numpy` reading (memory-bound), or a `sleep` of
    `sleep_s` (no CPU)."""

    items: int
    kernel: str = "python"
    sleep_s: float = 0.0


class Workload(Protocol):
    """What a strategy needs from a workload."""

    name: ClassVar[str]
    summary: ClassVar[str]
    parameters: ClassVar[tuple[Param, ...]]

    @classmethod
    def from_params(cls, raw: Mapping[str, object]) -> Self: ...
    def params(self) -> dict[str, Any]: ...
    def make_input(self) -> np.ndarray | None: ...
    def tasks(self, workers: int) -> list[Task]: ...
    def chunk(self, data: np.ndarray | None, task: Task, offset: int = 0) -> np.ndarray | None: ...
    # int for the built-ins; a workload with `matches(result, expected)` may return any picklable value.
    def kernel(self, chunk: np.ndarray | None, task: Task) -> Any: ...
    def combine(self, partials: Iterable[Any]) -> Any: ...
    def expected(self) -> Any: ...
    def bytes_touched(self) -> int: ...


class BaseWorkload:
    """Shared plumbing for dataclass workloads: parameter resolution, chunking and a summing combine."""

    name: ClassVar[str]
    summary: ClassVar[str]
    parameters: ClassVar[tuple[Param, ...]]
    # A speedup above the worker count is physically possible (e.g. the slices fit in cache when split):
    # the physical checks (parbench.analysis.physics) then do not flag it.
    superlinear: ClassVar[bool] = False

    @classmethod
    def from_params(cls, raw: Mapping[str, object]) -> Self:
        return cls(**resolve(cls.parameters, raw, cls.name))

    def cpu_bound(self) -> bool | None:
        """Whether the kernel keeps a CPU busy the whole time (the work-conservation checks apply); None when
        the workload cannot say."""
        return None

    def portable(self, task: Task) -> tuple[str, tuple[object, ...]] | None:
        """The function of parbench.workloads.portable (numpy-free) that computes `task` from its chunk, and the
        arguments after the chunk; None when only numpy can (subinterpreters then cannot run this workload)."""
        return None

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload, no-any-return]

    def work(self) -> Work:
        """The point's work, for the estimate: `size` items of its `kernel` (python when it has none)."""
        params = self.params()
        return Work(int(params.get("size", 1)), str(params.get("kernel", "python")))

    def chunk(self, data: np.ndarray | None, task: Task, offset: int = 0) -> np.ndarray | None:
        """The slice of `data` that `task` reads; `offset` is the index of data[0] in the full input."""
        return None if data is None else data[task.lo - offset : task.hi - offset]

    def combine(self, partials: Iterable[int]) -> int:
        return sum(partials)

    def bytes_touched(self) -> int:
        return 0
