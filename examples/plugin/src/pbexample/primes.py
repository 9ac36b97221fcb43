"""primes: how many primes are below `size`, by trial division, one contiguous range of numbers per task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from parbench.params import Param
from parbench.workloads import BaseWorkload, Task, split_range


def is_prime(n: int) -> bool:
    """Trial division by odd numbers up to sqrt(n): the plain loop a student would write."""
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    divisor = 3
    while divisor * divisor <= n:
        if n % divisor == 0:
            return False
        divisor += 2
    return True


@dataclass(frozen=True)
class Primes(BaseWorkload):
    """The number of primes in range(size). The instance is its validated parameters (a frozen dataclass), so it
    pickles to any worker under fork, spawn or forkserver; its methods need no other state."""

    # Class facts parbench reads: the name users type, a one-line summary for `parbench list`, the parameters.
    name: ClassVar[str] = "primes"
    summary: ClassVar[str] = "count the primes below size by trial division (pure Python, CPU-bound)"
    parameters: ClassVar[tuple[Param, ...]] = (
        Param("size", int, 20_000, "count the primes in range(size)", minimum=2, maximum=10**8),
        Param("tasks_per_worker", int, 4, "tasks per worker: the top of the range costs most, smaller tasks "
              "balance it", minimum=1, maximum=1000),
    )

    # One field per parameter, same names: BaseWorkload.from_params builds the instance from them.
    size: int = 20_000
    tasks_per_worker: int = 4

    def make_input(self) -> np.ndarray | None:
        return None  # the numbers are the task's own range: nothing to ship to the workers

    def tasks(self, workers: int) -> list[Task]:
        return split_range(self.size, workers * self.tasks_per_worker)

    def kernel(self, chunk: np.ndarray | None, task: Task) -> int:
        return sum(1 for n in range(task.lo, task.hi) if is_prime(n))

    # combine() is BaseWorkload's: the partial counts are summed.

    def expected(self) -> int:
        """Computed another way (a sieve), so that a kernel bug cannot agree with itself."""
        sieve = np.ones(self.size, dtype=bool)
        sieve[:2] = False
        for p in range(2, int(self.size**0.5) + 1):
            if sieve[p]:
                sieve[p * p :: p] = False
        return int(sieve.sum())

    def cpu_bound(self) -> bool:
        return True  # the kernel never waits: the physical checks (speedup <= utilisation x workers) apply
