"""The sweep driver: each planned cell in a fresh probe process, watched, stopped at its timeout, cleaned up.

A probe leads a process group of its own, outside the driver's terminal session (runner.launch), so the group
holds the probe and every worker it starts: on timeout or Ctrl-C the driver signals the whole group
(SIGTERM, a grace for teardown, SIGKILL), and a Ctrl-C at the terminal reaches the driver alone.
Helpers that left the group (a new session of their own, like a cluster node) are found in the descendant
tree the driver notes while the probe runs, or by the owner tag in their environment (parbench.processes).
Whatever the probe left behind, processes, /dev/shm segments or scratch folders named after it, is removed
before the next cell starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import psutil

from parbench import registry
from parbench.cpus import usable_cpus
from parbench.interrupts import held
from parbench.processes import alive, owned_by, remove_scratch
from parbench.results.schema import SLOW_MACHINE, Cell, Record, Status
from parbench.results.store import RunStore
from parbench.runner.affinity import forget_load, least_busy
from parbench.runner.canary import slowdown
from parbench.runner.environments import prepare
from parbench.runner.launch import Launcher, LaunchError, launcher
from parbench.runner.measure import now_iso, result_check
from parbench.runner.neighbours import CONTAMINATED_VISIT, wait_for_quiet
from parbench.runner.orphans import remove_dead_scratch, scratch_prefix
from parbench.runner.plan import PlannedCell
from parbench.runner.probe import ProbeRequest
from parbench.segments import remove_orphaned_segments, remove_segments
from parbench.strategies.base import describe_exit

# How often the probe's descendants are noted while it runs: each look scans /proc (a few ms of CPU), so
# rarely, to keep the driver out of the measured cell's way.
TREE_POLL_S = 2.0
# SIGTERM lets the probe tear its strategy down (pools, segments, clusters); then SIGKILL.
TERM_GRACE_S = 2.0
# multiprocessing's helpers (resource tracker, forkserver) exit on their own once the probe is gone.
HELPER_GRACE_S = 1.0
STDERR_TAIL_CHARS = 1500
MAX_SOLO_S = 86_400.0  # `run --python`: as long as it takes (Ctrl-C stops it)


@dataclass(frozen=True)
class Limits:
    """How each cell is measured: timed repeats, warmups, and the wall-clock limit of its probe."""

    repeat: int
    warmup: int
    timeout: float
    isolation: str = "fork"
    quiet_wait: float = 0.0  # seconds to wait for idle CPUs before each visit (runner.neighbours)
    envs: str | None = None  # where the interpreters' environments live (runner.environments)


class Observer(Protocol):
    """Told when each cell starts and ends, or is put back for later (the progress display)."""

    def cell_started(self, planned: PlannedCell) -> None: ...
    def cell_finished(self, planned: PlannedCell, record: Record) -> None: ...
    def cell_postponed(self, planned: PlannedCell, why: str) -> None: ...


# A visit whose canary ran more than SLOW_MACHINE slower than the best seen on as many CPUs was measured
# while the machine was not itself (another tenant, throttling): it goes back in the queue, at most
# MAX_REMEASURES times per visit and for at most BUDGET of the run's visits. During a slow phase (most recent
# visits slow) nothing is postponed: the retry would land in the same phase, so it would only move work around.
MAX_REMEASURES = 2
BUDGET = 0.15
RECENT = 12


@dataclass
class Pace:
    """The fastest canary seen in this run per number of CPUs held (runner.canary): the yardstick of every
    visit's. Per count, because a visit on two CPUs waits for the slower one, and two vCPUs of one VM may
    run at different speeds for minutes: that is the machine's shape, not a passing disturbance. And per
    interpreter (Cell.python, Cell.gil): the canary is a Python loop, as fast as the interpreter running it."""

    best: dict[tuple[int, str | None, str | None], int] = field(default_factory=dict)
    budget: int = 0
    postponed: Counter[tuple[str, int]] = field(default_factory=Counter)
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=RECENT))

    def slowdown(self, record: Record) -> float:
        if not record.canary_ns:
            return 1.0
        key = (len(record.cpus) or 1, record.cell.python, record.cell.gil)
        self.best[key] = min(self.best.get(key, record.canary_ns), record.canary_ns)
        slow = slowdown(record.canary_ns, self.best[key])
        self.recent.append(slow > SLOW_MACHINE)
        return slow

    def postpone(self, planned: PlannedCell, record: Record, slow: float) -> str | None:
        """Why to measure this visit again later rather than keep `record` (None: keep it)."""
        key = planned.visit_key()
        why = _disturbed(record, slow)
        if record.status != "OK" or why is None or self.postponed[key] >= MAX_REMEASURES:
            return None
        if sum(self.postponed.values()) >= self.budget or sum(self.recent) > RECENT // 2:
            return None
        self.postponed[key] += 1
        return why


def _disturbed(record: Record, slow: float) -> str | None:
    """Why a visit's timings speak of the machine more than of the code: its CPUs ran slow (canary), or other
    tenants took CPU time on them during too many of its repeats (runner.neighbours)."""
    if slow > SLOW_MACHINE:
        return f"the machine ran {slow:.2f}x slower than its best"
    timed = len(record.timed)
    if timed and (record.contaminated or 0) > CONTAMINATED_VISIT * timed:
        return f"other tenants used its CPUs during {record.contaminated} of {timed} repeats"
    return None


def _tail(path: Path) -> str:
    """The last STDERR_TAIL_CHARS characters of a file that may be huge (a chatty strategy), or ''."""
    if not path.exists():
        return ""
    with path.open("rb") as stream:
        stream.seek(max(0, path.stat().st_size - 4 * STDERR_TAIL_CHARS))
        return stream.read().decode(errors="replace").strip()[-STDERR_TAIL_CHARS:]


def _group_members(pgid: int) -> list[psutil.Process]:
    """Live processes of a process group (os.getpgid per pid: psutil does not expose the group)."""
    found = []
    for pid in psutil.pids():
        with contextlib.suppress(OSError, psutil.Error):
            if pid != os.getpid() and os.getpgid(pid) == pgid:
                found.append(psutil.Process(pid))
    return found


def _finish_off(procs: Sequence[psutil.Process], grace: float) -> None:
    """Give leftover processes `grace` seconds to exit by themselves, then SIGKILL the rest."""
    deadline = time.monotonic() + grace
    running = [p for p in procs if alive(p)]
    while running and time.monotonic() < deadline:
        time.sleep(0.01)
        running = [p for p in running if alive(p)]
    for proc in running:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    end = time.monotonic() + 5
    while any(alive(p) for p in running) and time.monotonic() < end:
        time.sleep(0.01)


class Probe:
    """One probe process: launched, watched until exit or timeout, stopped, and cleaned up after."""

    def __init__(self, launcher: Launcher, request: ProbeRequest, out: Path, err: Path) -> None:
        self.out, self.err = out, err
        self.tree: dict[int, psutil.Process] = {}
        self.started_ns = time.perf_counter_ns()
        self.ended_ns: int | None = None
        self.returncode: int | None = None
        self.launched = launcher.launch(request, out, err)
        self.pid = self.launched.pid
        self.pidfd = self._pidfd()

    def _pidfd(self) -> int | None:
        # A pidfd lets the driver sleep until the probe exits, without polling beside the measurement. The
        # probe stays unreaped until reap(), so its pid is still its own here.
        try:
            return os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            return None

    def _gone_within(self, seconds: float) -> bool:
        """Without a pidfd: poll (a probe that exited and awaits reaping is a zombie: it counts as gone)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                gone = not alive(psutil.Process(self.pid))
            except psutil.NoSuchProcess:
                gone = True
            if gone or time.monotonic() >= deadline:
                return gone
            time.sleep(0.05)

    def _exited_within(self, seconds: float) -> bool:
        if self.ended_ns is not None:
            return True
        if self.pidfd is not None:
            exited = bool(select.select([self.pidfd], [], [], max(0.0, seconds))[0])
        else:
            exited = self._gone_within(max(0.0, seconds))
        if exited:
            self.ended_ns = time.perf_counter_ns()
            self.returncode = self.launched.reap()
        return exited

    def _note_tree(self) -> None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children(recursive=True):
                self.tree.setdefault(child.pid, child)

    def watch(self, timeout: float) -> bool:
        """Wait for the probe to exit; False when `timeout` seconds passed first."""
        deadline = time.monotonic() + timeout
        while not self._exited_within(min(TREE_POLL_S, deadline - time.monotonic())):
            self._note_tree()
            if time.monotonic() >= deadline:
                return False
        return True

    def stop(self) -> None:
        """SIGTERM the probe's group, a grace for teardown, then SIGKILL the group."""
        self._note_tree()
        self._signal_group(signal.SIGTERM)
        if not self._exited_within(TERM_GRACE_S):
            self._signal_group(signal.SIGKILL)
            self._exited_within(60.0)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)

    def cleanup(self) -> None:
        """After the probe exited: end what it left (its group, noted descendants), remove its segments."""
        leftovers = {p.pid: p for p in _group_members(self.pid)}
        leftovers.update(self.tree)
        # Daemons that left the group before the tree was noted (Ray's workers, MPI ranks) carry its pid.
        leftovers.update((p.pid, p) for p in owned_by(self.pid))
        _finish_off(list(leftovers.values()), HELPER_GRACE_S)
        for pid in {self.pid, *leftovers}:
            remove_segments(pid)
        remove_scratch(self.pid)
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def wall_ns(self) -> int:
        return (self.ended_ns or time.perf_counter_ns()) - self.started_ns

    def output(self) -> tuple[str, str]:
        """The record line(s) the probe wrote, and the tail of its stderr."""
        return (self.out.read_text(errors="replace") if self.out.exists() else ""), _tail(self.err)


def _expected(planned: PlannedCell) -> Any:
    try:
        return result_check(registry.make_workload(planned.cell.workload, planned.cell.params))[0]
    except Exception:
        return None


def _failed(planned: PlannedCell, status: Status, error: str, started: str, wall_ns: int | None) -> Record:
    return Record(planned.cell, status, _expected(planned), error=error, started=started, family=planned.family,
                  probe_wall_ns=wall_ns)


def _verdict(planned: PlannedCell, probe: Probe, timed_out: bool, started: str, timeout: float) -> Record:
    out, err = probe.output()
    # The last line of stderr (an exception's message, usually) on the first line; the tail after it.
    tail = f": {err.splitlines()[-1]}\n--- probe stderr (tail) ---\n{err}" if err else ""
    wall = probe.wall_ns()
    if timed_out:
        return _failed(planned, "TIMEOUT", f"no result within {timeout:g} s, probe stopped{tail}", started, wall)
    line = out.strip().splitlines()[-1] if out.strip() else ""
    if probe.returncode == 0 and line:
        try:
            return replace(Record.from_dict(json.loads(line)), probe_wall_ns=wall)
        except (ValueError, KeyError, TypeError) as exc:
            return _failed(planned, "CRASHED", f"probe wrote no readable record ({exc}){tail}", started, wall)
    how = "ended, exit status unknown" if probe.returncode is None else describe_exit(probe.returncode)
    return _failed(planned, "CRASHED", f"probe {how}{tail}", started, wall)


def measure_isolated(planned: PlannedCell, limits: Limits, launcher: Launcher, workdir: Path) -> Record:
    """Measure one cell in a fresh probe; a hang, a crash or Ctrl-C never leaves anything behind."""
    started = now_iso()
    out, err = workdir / "probe.out", workdir / "probe.err"
    for path in (out, err):
        path.unlink(missing_ok=True)
    cpus = tuple(least_busy(planned.cell.workers))
    waited = wait_for_quiet(cpus, limits.quiet_wait) if limits.quiet_wait > 0 else None
    request = ProbeRequest(planned.cell, limits.repeat, limits.warmup, cpus)
    probe: Probe | None = None
    try:
        with held():  # a Ctrl-C during the launch waits until the probe's pid is known, so it can be stopped
            probe = Probe(launcher, request, out, err)
        exited = probe.watch(limits.timeout)
    except BaseException as exc:
        if probe is not None:
            with held():
                probe.stop()
                probe.cleanup()
        if isinstance(exc, LaunchError):
            return _failed(planned, "CRASHED", str(exc), started, None)
        raise
    with held():
        if not exited:
            probe.stop()
        probe.cleanup()
    forget_load()
    return replace(_verdict(planned, probe, not exited, started, limits.timeout), quiet_wait_s=waited)


@contextlib.contextmanager
def probes(isolation: str, pythons: Mapping[str, str] | None = None) -> Iterator[tuple[Launcher, Path]]:
    """A launcher for the sweep's probes (under each cell's interpreter: `pythons` maps Cell.python to its
    environment's python) and a scratch folder for their output, both gone afterwards (and those of sweeps
    killed before they could remove theirs)."""
    remove_dead_scratch()
    remove_orphaned_segments()
    with tempfile.TemporaryDirectory(prefix=scratch_prefix()) as scratch:
        started = launcher(isolation, Path(scratch), pythons)
        try:
            yield started, Path(scratch)
        finally:
            started.close()


def run_sweep(cells: Sequence[PlannedCell], store: RunStore, limits: Limits, observer: Observer,
              reference_canary: int | None = None) -> Counter[str]:
    """Measure `cells` in order, appending each record as it ends (a visit measured while the machine ran
    slow goes back in the queue first, see Pace); returns the count per status."""
    statuses: Counter[str] = Counter()
    pace = Pace({(len(usable_cpus()), None, None): reference_canary} if reference_canary else {},
                budget=max(3, int(len(cells) * BUDGET)))
    queue = deque(cells)
    # Every interpreter's environment first: one that cannot be built stops the sweep before any cell runs.
    pythons = prepare([c.cell for c in cells], limits.envs)
    with probes(limits.isolation, pythons) as (started, scratch):
        while queue:
            planned = queue.popleft()
            observer.cell_started(planned)
            if planned.unavailable:
                record = _failed(planned, "UNAVAILABLE", planned.unavailable, now_iso(), None)
            else:
                record = measure_isolated(planned, limits, started, scratch)
            slow = pace.slowdown(record)
            why = pace.postpone(planned, record, slow)
            if why:
                queue.append(planned)
                observer.cell_postponed(planned, why)
                continue
            record = replace(record, visit=planned.visit, slowdown=round(slow, 3) if record.canary_ns else None)
            store.append(record)
            statuses[record.status] += 1
            observer.cell_finished(planned, record)
    return statuses


def measure_under(cell: Cell, repeat: int, warmup: int, envs: str | None, timeout: float = MAX_SOLO_S) -> Record:
    """`parbench run --python`: one cell in a probe under its interpreter's environment (built first when needed),
    watched and cleaned up like a sweep's."""
    from parbench.runner.launch import launcher

    pythons = prepare([cell], envs)
    family = registry.get_strategy(cell.strategy).family
    with tempfile.TemporaryDirectory(prefix=scratch_prefix()) as scratch:
        started = launcher("exec", Path(scratch), pythons)
        try:
            return measure_isolated(PlannedCell(cell, family), Limits(repeat, warmup, timeout), started,
                                    Path(scratch))
        finally:
            started.close()
