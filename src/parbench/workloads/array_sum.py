"""array-sum: the course's sum of an integer array split into contiguous slices."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np

from parbench.errors import BadValue
from parbench.params import Param, resolve
from parbench.workloads.base import BaseWorkload, Task, split_range
from parbench.workloads.portable import sum_loop

# 2**31 int64 elements is 16 GiB: beyond that a typo is likelier than a wish.
MAX_SIZE = 2**31


@dataclass(frozen=True)
class ArraySum(BaseWorkload):
    """Sum of `size` int64 elements (ones or 0..size-1), one contiguous slice per worker."""

    name: ClassVar[str] = "array-sum"
    summary: ClassVar[str] = "sum of an int64 array split into one contiguous slice per worker"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("size", int, 1_000_000, "number of elements", minimum=1, maximum=MAX_SIZE),
        Param("kernel", str, "python", "python: plain loop (holds the GIL); numpy: vectorised (releases it)",
              choices=("python", "numpy")),
        Param("fill", str, "arange", "arange: 0..size-1 (sum n(n-1)/2); ones: all 1 (sum n)",
              choices=("arange", "ones")),
    )

    size: int = 1_000_000
    kernel_kind: str = "python"
    fill: str = "arange"

    @classmethod
    def from_params(cls, raw: Mapping[str, object]) -> Self:
        # The parameter is called "kernel" on the command line; the field cannot be (it is a method).
        values = resolve(cls.parameters, raw, cls.name)
        return cls(size=values["size"], kernel_kind=values["kernel"], fill=values["fill"])

    def params(self) -> dict[str, object]:
        return {"size": self.size, "kernel": self.kernel_kind, "fill": self.fill}

    def make_input(self) -> np.ndarray:
        if self.fill == "ones":
            return np.ones(self.size, dtype=np.int64)
        return np.arange(self.size, dtype=np.int64)

    def tasks(self, workers: int) -> list[Task]:
        return split_range(self.size, workers)

    def cpu_bound(self) -> bool:
        return True  # both kernels keep their CPU busy (numpy stalls on memory, but stalls count as CPU time)

    def kernel(self, chunk: np.ndarray | None, task: Task) -> int:
        if chunk is None:
            raise BadValue("array-sum needs its input array")
        if self.kernel_kind == "numpy":
            return int(chunk.sum())
        # memoryview needs aligned, contiguous data; a transport that delivers otherwise (dask hands arrays
        # over at any byte offset of its frames) costs one copy here, counted in compute.
        chunk = np.require(chunk, dtype=np.int64, requirements=("C", "A"))
        return sum_loop(memoryview(chunk))  # type: ignore[arg-type]  # the course's plain loop, one int at a time

    def portable(self, task: Task) -> tuple[str, tuple[object, ...]] | None:
        """What a subinterpreter runs (parbench.workloads.portable): the python kernel only, numpy cannot load."""
        return ("sum_loop", ()) if self.kernel_kind == "python" else None

    def expected(self) -> int:
        n = self.size
        return n if self.fill == "ones" else n * (n - 1) // 2

    def bytes_touched(self) -> int:
        return self.size * 8

