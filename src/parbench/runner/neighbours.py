"""Who else ran on our CPUs: the foreign CPU time during a timed window, and waiting for quiet CPUs.

Two witnesses, because neither sees everything (DESIGN 5b, "watch the neighbours"):
- /proc/stat: the granted CPUs' busy time (user, nice, system, irq, softirq and steal: stolen time is not
  ours either) minus our own tree's CPU time. Exact over long windows, but the kernel prints each field in
  ticks (USER_HZ, 10 ms), truncated, so every field that moved may be off by one tick: that much is forgiven,
  and a repeat of a few milliseconds cannot be judged this way.
- run-queue wait (/proc/self/task/<tid>/schedstat, 2nd field, ns): time our threads were ready to run but
  another task held the CPU. Fine-grained, so it catches a neighbour during a millisecond repeat too; but it
  cannot tell a foreign task from our own, so it is asked only where nothing of ours competes: the paired
  sequential reference, one thread pinned to one CPU while the cell's workers sit idle.
- running strangers (/proc/<pid>/task/<tid>/schedstat and stat): the threads outside this probe's tree that
  were running when last looked at (every RESCAN_NS), their CPU time (ns) while they last ran on one of our
  CPUs. This is what sees a busy neighbour during a cell that holds several CPUs, where the run-queue wait of
  our own processes cannot be read (workers come and go within a repeat) and ticks are too coarse.
The first and third count others' time on our CPUs whether or not we needed them then: for a kernel that
mostly waits (the workload says it is not CPU-bound) they are weighted by the share of the window our tree
kept those CPUs busy (a cell that sleeps through a neighbour's burst was not disturbed by it); a CPU-bound
cell competes all along and counts them whole, as the run-queue wait always does.
The largest of the three is the repeat's foreign time. Where /proc is missing they read 0: nothing is claimed.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from parbench.results.schema import FOREIGN_SHARE

# A visit with more than this share of contaminated timed repeats is measured again later (runner.sweep).
CONTAMINATED_VISIT = 1 / 3
# /proc/stat fields after the cpu name that count as busy: user nice system idle iowait irq softirq steal.
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
_TICK_NS = 1_000_000_000 // (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)


# How often the list of running strangers is renewed (a scan of every thread of the machine: a few ms).
RESCAN_NS = 1_000_000_000


@dataclass(frozen=True)
class Snapshot:
    """The busy-time fields of some CPUs (ticks, one tuple per CPU), our thread's run-queue wait (ns) and the
    running strangers' CPU time on those CPUs (ns, per thread)."""

    busy: tuple[tuple[int, ...], ...]
    wait_ns: int
    strangers: dict[str, int] = field(default_factory=dict)

    def strangers_ns(self, before: Snapshot) -> int:
        return sum(max(0, ns - before.strangers[tid]) for tid, ns in self.strangers.items() if tid in before.strangers)

    @property
    def busy_ns(self) -> int:
        return sum(map(sum, self.busy)) * _TICK_NS

    def moved(self, before: Snapshot) -> int:
        """How many busy fields changed since `before`: each may carry a tick of truncation."""
        return sum(a != b for now, then in zip(self.busy, before.busy, strict=False) for a, b in zip(now, then,
                                                                                                 strict=False))


def cpu_busy(cpus: Iterable[int]) -> dict[int, tuple[int, ...]]:
    """The busy fields (ticks since boot) per CPU in `cpus`, from /proc/stat; empty where it cannot be read."""
    wanted = {f"cpu{c}" for c in cpus}
    found: dict[int, tuple[int, ...]] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *fields = line.split()
            if name in wanted:
                found[int(name[3:])] = tuple(int(fields[i]) for i in _BUSY_FIELDS if i < len(fields))
    return found


def cpu_busy_ns(cpus: Iterable[int]) -> dict[int, int]:
    """Busy nanoseconds since boot per CPU in `cpus`."""
    return {cpu: sum(fields) * _TICK_NS for cpu, fields in cpu_busy(cpus).items()}


def _run_delay(path: Path) -> int:
    try:
        return int(path.read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def wait_ns() -> int:
    """Run-queue wait of the calling thread (ns since it started; 0 where schedstat is missing)."""
    return _run_delay(Path(f"/proc/self/task/{threading.get_native_id()}/schedstat"))


def _thread_stat(task: Path) -> tuple[str, int] | None:
    """(state, last CPU) of a thread from its /proc stat line (the fields after the command's closing paren)."""
    try:
        fields = task.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        return fields[0], int(fields[36])
    except (OSError, ValueError, IndexError):
        return None


def _runtime(task: Path) -> int | None:
    try:
        return int(task.joinpath("schedstat").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def running_strangers(ours: set[int]) -> list[Path]:
    """The threads of processes outside `ours` (pids) running or ready to run now: a busy neighbour's."""
    found = []
    with contextlib.suppress(OSError):
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) in ours:
                continue
            with contextlib.suppress(OSError):
                for tid in os.listdir(f"/proc/{pid}/task"):
                    task = Path(f"/proc/{pid}/task/{tid}")
                    stat = _thread_stat(task)
                    if stat is not None and stat[0] == "R":
                        found.append(task)
    return found


class Neighbours:
    """Foreign CPU time on a set of CPUs between two snapshots (`run_queue`: also the calling thread's wait)."""

    def __init__(self, cpus: Sequence[int], run_queue: bool = False) -> None:
        self.cpus = tuple(cpus)
        self.run_queue = run_queue
        self.watched: list[Path] = []
        self.scanned = -RESCAN_NS
        self.ours: set[int] = {os.getpid()}

    def watch(self, ours: Iterable[int]) -> None:
        """Renew the running strangers when due; `ours`: the probe's tree (its pid and its workers')."""
        now = time.perf_counter_ns()
        if now - self.scanned >= RESCAN_NS:
            self.ours = {os.getpid(), *ours}
            self.watched = running_strangers(self.ours)
            self.scanned = time.perf_counter_ns()

    def _strangers(self) -> dict[str, int]:
        found = {}
        for task in self.watched:
            stat, runtime = _thread_stat(task), _runtime(task)
            if stat is not None and runtime is not None and stat[1] in self.cpus:
                found[str(task)] = runtime
        return found

    def snapshot(self) -> Snapshot:
        busy = cpu_busy(self.cpus)
        return Snapshot(tuple(busy[c] for c in self.cpus if c in busy), wait_ns() if self.run_queue else 0,
                        self._strangers())

    def foreign_ns(self, before: Snapshot, after: Snapshot, own_cpu_ns: int, wall_ns: int,
                   cpu_bound: bool = True) -> int:
        """Others' CPU time that competed with ours in the window: the largest witness (module docstring)."""
        from_stat = after.busy_ns - before.busy_ns - own_cpu_ns - _TICK_NS * after.moved(before)
        busy = max(0, from_stat, after.strangers_ns(before))
        needed = 1.0
        if not cpu_bound and wall_ns > 0 and self.cpus:
            needed = min(1.0, own_cpu_ns / (wall_ns * len(self.cpus)))
        return max(int(busy * needed), after.wait_ns - before.wait_ns)


def foreign_load(cpus: Sequence[int], window_s: float) -> float:
    """The share of `cpus`' time that was busy over the next `window_s` seconds (this process idle meanwhile)."""
    before = sum(cpu_busy_ns(cpus).values())
    time.sleep(window_s)
    busy = sum(cpu_busy_ns(cpus).values()) - before
    return busy / (window_s * 1e9 * max(1, len(cpus)))


def wait_for_quiet(cpus: Sequence[int], limit_s: float, window_s: float = 0.2) -> float:
    """Wait up to `limit_s` seconds until `cpus` are idle (busy share under FOREIGN_SHARE over a window);
    return how long it waited. The driver calls it before a visit (--quiet-wait)."""
    start = time.monotonic()
    while time.monotonic() - start + window_s <= limit_s:
        if foreign_load(cpus, window_s) < FOREIGN_SHARE:
            break
    return round(time.monotonic() - start, 3)
