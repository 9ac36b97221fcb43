"""The strategy interface and the pieces every strategy shares.

Lifecycle, timed by the harness as phases: `setup()` (pools, clusters, segments) once, then `run(clock)`
per repeat, which marks its inner phases (spawn, scatter, compute, gather) on the clock, then `teardown()`,
which the harness calls even when setup or run raised.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.context import BaseContext
from types import TracebackType
from typing import Any, ClassVar, Literal, Protocol, Self

import numpy as np

from parbench.errors import StrategyError, WorkerDied
from parbench.families import Family as Family  # noqa: PLC0414  # re-exported for plugins
from parbench.interrupts import worker_signals
from parbench.params import Param
from parbench.workloads.base import Task, Workload, split_range

# How a strategy's input reaches its workers: read where it is (threads, shared memory, inherited by fork),
# copied or pickled on every run, or pickled only when the start method is spawn or forkserver.
InputTravel = Literal["in-place", "every-run", "when-pickled"]
# What setup() starts: nothing (workers start per run, or are threads), one process per worker (a pool, a
# manager), or a local cluster (scheduler, nodes, ranks).
SetupStarts = Literal["nothing", "workers", "cluster"]

START_METHODS: tuple[str, ...] = ("fork", "spawn", "forkserver")
PHASES: tuple[str, ...] = ("setup", "spawn", "scatter", "compute", "gather", "teardown")


@dataclass(frozen=True)
class Context:
    """Everything a strategy instance needs: the workload, its input and how wide to go."""

    workload: Workload
    data: np.ndarray | None
    workers: int
    start_method: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def mp(self) -> BaseContext:
        return multiprocessing.get_context(self.start_method)

    def tasks(self) -> list[Task]:
        return self.workload.tasks(self.workers)

    def shares(self) -> list[list[Task]]:
        """The tasks in at most `workers` contiguous groups, one per worker, none empty."""
        tasks = self.tasks()
        return [tasks[group.lo : group.hi] for group in split_range(len(tasks), self.workers)]

    def payload(self) -> list[tuple[Workload, np.ndarray | None, Task]]:
        """One `run_task` call's arguments per task: the workload, the task's slice (a view) and the task."""
        workload, data = self.workload, self.data
        return [(workload, workload.chunk(data, task), task) for task in self.tasks()]


class PhaseClock:
    """Accumulates nanoseconds per named phase; `mark(name)` ends the current phase and starts `name`."""

    __slots__ = ("_phase", "_t", "totals")

    def __init__(self) -> None:
        self.totals: dict[str, int] = {}
        self._phase: str | None = None
        self._t = time.perf_counter_ns()

    def mark(self, phase: str) -> None:
        now = time.perf_counter_ns()
        if self._phase is not None:
            self.totals[self._phase] = self.totals.get(self._phase, 0) + now - self._t
        self._phase, self._t = phase, now

    def stop(self) -> dict[str, int]:
        self.mark("")
        self._phase = None
        return self.totals


class Strategy(Protocol):
    """How work is spread. Instances are built per cell from a Context."""

    name: ClassVar[str]
    family: ClassVar[Family]
    summary: ClassVar[str]
    uses_start_method: ClassVar[bool]
    options: ClassVar[tuple[Param, ...]]
    max_workers: ClassVar[int | None]
    by_name_only: ClassVar[bool]

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None: ...
    def __init__(self, ctx: Context) -> None: ...
    def setup(self) -> None: ...
    def run(self, clock: PhaseClock) -> Any: ...  # the combined result: int for the built-in workloads
    def teardown(self) -> None: ...
    def extra(self) -> dict[str, Any]: ...


class BaseStrategy:
    """Defaults: nothing to set up or tear down, always available, no options."""

    name: ClassVar[str]
    family: ClassVar[Family]
    summary: ClassVar[str] = ""
    uses_start_method: ClassVar[bool] = False
    options: ClassVar[tuple[Param, ...]] = ()
    max_workers: ClassVar[int | None] = None
    # A sweep runs it only when named: a family or a preset asking for "processes" wants working strategies.
    by_name_only: ClassVar[bool] = False
    # What its costs are made of, for the sweep's estimate (runner.estimate): whether every run starts a process
    # per worker, how the input reaches the workers, and what setup() starts.
    processes_per_run: ClassVar[bool] = False
    input_travel: ClassVar[InputTravel] = "in-place"
    setup_starts: ClassVar[SetupStarts] = "nothing"
    # It moves the input as raw int64 (a buffer, not pickles) / carries partials in int64 slots: a workload
    # whose inputs or results are other Python objects (a function workload's may be) is UNAVAILABLE to it.
    int64_input: ClassVar[bool] = False
    int64_partials: ClassVar[bool] = False
    # The parbench extra that installs what it needs (runner.environments builds other interpreters' with it).
    pip_extra: ClassVar[str | None] = None

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        if start_method is not None and not cls.uses_start_method:
            return f"start methods do not apply to {cls.name}: it does not start its workers with multiprocessing"
        if start_method is not None and start_method not in multiprocessing.get_all_start_methods():
            return f"start method {start_method!r} is not supported on this platform"
        return None

    def setup(self) -> None:
        return None

    def run(self, clock: PhaseClock) -> Any:
        raise NotImplementedError

    def teardown(self) -> None:
        return None

    def extra(self) -> dict[str, Any]:
        return {}


class ProcessStrategy(BaseStrategy):
    """A strategy whose workers are processes: the start method applies. The cost facts default to a pool's:
    workers started once in setup, the input pickled to them on every run."""

    family: ClassVar[Family] = "processes"
    uses_start_method: ClassVar[bool] = True
    input_travel: ClassVar[InputTravel] = "every-run"
    setup_starts: ClassVar[SetupStarts] = "workers"


def preload(module: str) -> None:
    """Import `module` in a pool or cluster worker, so that the first timed run does not pay for it. Returns
    nothing: a module does not pickle back."""
    importlib.import_module(module)


def run_task(workload: Workload, chunk: np.ndarray | None, task: Task) -> Any:
    """One task in a pool or cluster worker. Scattered arrays may arrive unaligned (any byte offset of a
    transport's frames): the kernel copies them then."""
    return workload.kernel(chunk, task)


def plain(value: Any) -> Any:
    """A partial as the workload made it: numpy scalars (some transports hand them back) as Python numbers,
    anything else (a function workload's floats, arrays, objects) untouched rather than cast to int."""
    return value.item() if isinstance(value, np.generic) else value


def shutdown_executor(executor: Executor | None, failed: bool) -> None:
    """Shut a pool executor down. After a failed or interrupted run a task may still be running (hung, or
    ignoring the Ctrl-C the parent took), so waiting for it could take forever: worker processes are
    terminated first, and threads, which cannot be stopped, are not waited for."""
    if executor is None:
        return
    is_process_pool = isinstance(executor, ProcessPoolExecutor)
    if failed and is_process_pool:
        for proc in list((executor._processes or {}).values()):  # type: ignore[attr-defined]  # the only handle
            proc.terminate()  # workers hold no state worth a graceful end
    executor.shutdown(wait=is_process_pool or not failed, cancel_futures=True)


def compute_share(workload: Workload, window: np.ndarray | None, offset: int, tasks: Sequence[Task]) -> Any:
    """Run `tasks` over `window` (the input from index `offset` on) and combine their partials."""
    return workload.combine(workload.kernel(workload.chunk(window, t, offset), t) for t in tasks)


def window_of(data: np.ndarray | None, tasks: Sequence[Task]) -> np.ndarray | None:
    """The contiguous part of the input a group of tasks reads (a view, no copy)."""
    return None if data is None else data[tasks[0].lo : tasks[-1].hi]


def describe_exception(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"was killed by signal {-exitcode}"
    return f"exited with code {exitcode} without reporting"


def _crew_entry(conn: multiprocessing.connection.Connection, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    worker_signals()
    try:
        value = target(conn, *args)
    except BaseException as exc:
        conn.send(("err", describe_exception(exc)))
        raise SystemExit(1) from None
    conn.send(("ok", value))


class Crew:
    """Processes started for one run. Each calls `target(conn, *args)` and reports on its own pipe. A context
    manager: leaving it stops them all.

    `wait()` returns the reported values in worker order, and turns a worker that raised, died (even by
    SIGKILL) or never answered into a StrategyError instead of a hang.
    """

    def __init__(self, mp: BaseContext, target: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> None:
        self.conns: list[multiprocessing.connection.Connection] = []
        self.procs: list[Any] = []
        self._unstarted: list[tuple[Any, multiprocessing.connection.Connection]] = []
        for i, worker_args in enumerate(args):
            parent, child = mp.Pipe()
            proc = mp.Process(target=_crew_entry, args=(child, target, worker_args),  # type: ignore[attr-defined]
                              name=f"parbench-worker-{i}", daemon=True)
            self.conns.append(parent)
            self._unstarted.append((proc, child))

    def start(self) -> None:
        while self._unstarted:
            proc, child = self._unstarted.pop(0)
            proc.start()
            self.procs.append(proc)
            child.close()  # so the parent sees EOF when the worker dies

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def wait(self) -> list[Any]:
        values: list[Any] = [None] * len(self.conns)
        pending = dict(enumerate(self.conns))
        while pending:
            waitables = [*pending.values(), *(self.procs[i].sentinel for i in pending)]
            ready = multiprocessing.connection.wait(waitables)
            for i in [i for i, c in pending.items() if c in ready or self.procs[i].sentinel in ready]:
                values[i] = self._receive(i)
                del pending[i]
        return values

    def _receive(self, i: int) -> Any:
        conn = self.conns[i]
        try:
            status, value = conn.recv() if conn.poll() else ("dead", None)
        except (EOFError, OSError):
            status, value = "dead", None
        if status == "ok":
            return value
        if status == "err":
            raise StrategyError(f"worker {i} raised {value}")
        self.procs[i].join(1.0)
        raise WorkerDied(f"worker {i} (pid {self.procs[i].pid}) {describe_exit(self.procs[i].exitcode)}")

    def stop(self) -> None:
        """Join the workers; terminate, then kill, any still running. Safe to call twice."""
        for proc in self.procs:
            proc.join(0.0 if proc.exitcode is not None else 0.2)
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
                proc.join()
        for _, child in self._unstarted:
            child.close()
        for conn in self.conns:
            conn.close()
        self.procs, self.conns, self._unstarted = [], [], []
