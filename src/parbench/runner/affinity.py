"""CPU affinity: which CPUs this process may use, and pinning a probe to as many as its cell has workers.

Children inherit the affinity of the process that starts them, so pinning the probe before any worker
exists confines the whole cell (threads, processes, BLAS threads) to the granted CPUs.
"""

from __future__ import annotations

import contextlib

import psutil

from parbench.cpus import usable_cpus
from parbench.results.schema import SLOW_MACHINE
from parbench.runner.canary import canary_ns

# A CPU counts as taken when someone kept it this busy: below, load is the driver's own chatter and timer
# granularity, and ranking by it would move cells between CPUs for nothing.
BUSY_PERCENT = 50.0


def cpus_for(workers: int, usable: list[int] | None = None, busy: dict[int, float] | None = None,
             speed: dict[int, int] | None = None) -> list[int]:
    """The CPUs a cell with `workers` workers gets: min(workers, usable) of the usable ones. First those not
    taken (BUSY_PERCENT), then those running at full speed (a `speed` canary within SLOW_MACHINE of the
    fastest), then the lowest numbers, so an idle machine whose CPUs run alike always gives the same CPUs."""
    usable = usable_cpus() if usable is None else usable
    busy, speed = busy or {}, speed or {}
    fastest = min(speed.values(), default=0)

    def rank(cpu: int) -> tuple[bool, bool]:
        return busy.get(cpu, 0.0) >= BUSY_PERCENT, speed.get(cpu, fastest) > fastest * SLOW_MACHINE

    return sorted(sorted(usable, key=rank)[: max(1, min(workers, len(usable)))])


def forget_load() -> None:
    """Start a new load window (psutil measures from its previous call): the driver calls it once a probe is
    gone, so the next least_busy() sees what ran between cells, not the cell it just measured."""
    psutil.cpu_percent(percpu=True)


def least_busy(workers: int) -> list[int]:
    """For the driver, between cells: the CPUs a `workers`-wide cell should take, from each usable CPU's load
    since forget_load() and, when there is a choice, how fast each runs now (a canary each, about 3 ms).

    The load steers cells away from a CPU someone else is saturating, which would delay every wake-up of a
    cell pinned there. The speed matters on virtual machines: one vCPU of the development VM ran 2x slower
    than the other for minutes, with no load or steal time to show for it, and a one-worker cell always
    pinned to it was measured slow (and measured again) visit after visit."""
    loads = dict(enumerate(psutil.cpu_percent(percpu=True)))
    usable = usable_cpus()
    speed = {cpu: canary_ns([cpu]) for cpu in usable} if workers < len(usable) else None
    return cpus_for(workers, usable, loads, speed)


def pin(workers: int, preferred: list[int] | None = None) -> list[int]:
    """Pin this process to `preferred` (when every one is usable) or `cpus_for(workers)`; return what was granted."""
    usable = usable_cpus()
    wanted = preferred if preferred and set(preferred) <= set(usable) else cpus_for(workers, usable)
    # Where pinning is impossible the record still shows the CPUs the cell really had.
    with contextlib.suppress(AttributeError, psutil.Error):
        psutil.Process().cpu_affinity(wanted)
    return usable_cpus()
