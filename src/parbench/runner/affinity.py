"""CPU affinity: which CPUs this process may use, and pinning a probe to as many as its cell has workers.

Children inherit the affinity of the process that starts them, so pinning the probe before any worker
exists confines the whole cell (threads, processes, BLAS threads) to the granted CPUs.
"""

from __future__ import annotations

import contextlib
import os

import psutil


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask), sorted."""
    try:
        return sorted(psutil.Process().cpu_affinity() or [])
    except (AttributeError, psutil.Error):  # no affinity support on this platform: every CPU
        return list(range(os.cpu_count() or 1))


def cpus_for(workers: int, usable: list[int] | None = None) -> list[int]:
    """The CPUs a cell with `workers` workers gets: the first min(workers, usable) usable ones."""
    usable = usable_cpus() if usable is None else usable
    return usable[: max(1, min(workers, len(usable)))]


def pin(workers: int) -> list[int]:
    """Pin this process to `cpus_for(workers)` and return the CPUs actually granted."""
    wanted = cpus_for(workers)
    # Where pinning is impossible the record still shows the CPUs the cell really had.
    with contextlib.suppress(AttributeError, psutil.Error):
        psutil.Process().cpu_affinity(wanted)
    return usable_cpus()
