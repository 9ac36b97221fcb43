"""CPU affinity: which CPUs this process may use, and pinning a probe to as many as its cell has workers.

Children inherit the affinity of the process that starts them, so pinning the probe before any worker
exists confines the whole cell (threads, processes, BLAS threads) to the granted CPUs.
"""

from __future__ import annotations

import contextlib

import psutil

from parbench.cpus import usable_cpus

# A CPU counts as taken when someone kept it this busy: below, load is the driver's own chatter and timer
# granularity, and ranking by it would move cells between CPUs for nothing.
BUSY_PERCENT = 50.0


def cpus_for(workers: int, usable: list[int] | None = None, busy: dict[int, float] | None = None) -> list[int]:
    """The CPUs a cell with `workers` workers gets: min(workers, usable) of the usable ones, those not taken
    (BUSY_PERCENT) first when per-CPU load is known; otherwise the lowest numbers, so an idle machine always
    gives the same CPUs."""
    usable = usable_cpus() if usable is None else usable
    ranked = sorted(usable, key=lambda cpu: (busy or {}).get(cpu, 0.0) >= BUSY_PERCENT)
    return sorted(ranked[: max(1, min(workers, len(usable)))])


def forget_load() -> None:
    """Start a new load window (psutil measures from its previous call): the driver calls it once a probe is
    gone, so the next least_busy() sees what ran between cells, not the cell it just measured."""
    psutil.cpu_percent(percpu=True)


def least_busy(workers: int) -> list[int]:
    """For the driver, between cells: each usable CPU's load since forget_load(), and the CPUs a
    `workers`-wide cell should take. On a shared machine this steers cells away from a CPU someone else is
    saturating, which would otherwise delay every wake-up of a cell pinned there."""
    loads = psutil.cpu_percent(percpu=True)
    return cpus_for(workers, busy=dict(enumerate(loads)))


def pin(workers: int, preferred: list[int] | None = None) -> list[int]:
    """Pin this process to `preferred` (when every one is usable) or `cpus_for(workers)`; return what was granted."""
    usable = usable_cpus()
    wanted = preferred if preferred and set(preferred) <= set(usable) else cpus_for(workers, usable)
    # Where pinning is impossible the record still shows the CPUs the cell really had.
    with contextlib.suppress(AttributeError, psutil.Error):
        psutil.Process().cpu_affinity(wanted)
    return usable_cpus()
