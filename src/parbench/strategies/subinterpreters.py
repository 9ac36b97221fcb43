"""subinterpreters: one interpreter per worker, each with its own GIL (PEP 684), driven by a thread each.

Several interpreters in one process run Python in parallel only when each has a GIL of its own: `_interpreters`
`create("isolated")` gives that (measured on 3.13.0 with a pure-Python loop on two workers: 1.95x over
sequential), "legacy" shares the main GIL (1.04x), and so does the PEP 734 backport's plain `create()` (0.61x).
So this strategy creates "isolated" interpreters and checks each one's config says `gil='own'`; CPU utilisation
near 100% per worker then proves they ran in parallel (threads on the same loop stay near 1/workers).

Lifecycle: setup creates the interpreters and runs parbench.workloads.portable's text in each (numpy cannot
load in an interpreter with its own GIL: only kernels written in plain Python run there, the very ones the
workloads' python kernels call). Per run: `scatter` hands each interpreter its slice as a memoryview (the
buffer is shared, not copied) and a slot to write its partials into, `spawn` starts a thread per worker,
`compute` lasts until every interpreter is done, `gather` combines.
"""

from __future__ import annotations

import array
import importlib
import inspect
import sys
import threading
import time
from typing import Any, ClassVar

from parbench.errors import StrategyError, Unavailable
from parbench.strategies.base import BaseStrategy, Family, InputTravel, PhaseClock, SetupStarts
from parbench.workloads import portable
from parbench.workloads.base import Task, Workload

NO_NUMPY = ("numpy cannot load in a subinterpreter with its own GIL (its extension module does not support "
            "several interpreters): only kernels in plain Python (array-sum's python kernel, delayed-square) run "
            "under subinterpreters")
# Runs in each interpreter, per run: every task's portable function, its partial into the worker's slots.
RUN = "for _i, (_f, _view, _args) in enumerate(calls):\n    out[_i] = globals()[_f](_view, *_args)\n"


def _low_level() -> Any:
    """The interpreters module (3.13+: `_interpreters`, which PEP 734's concurrent.interpreters wraps)."""
    return importlib.import_module("_interpreters")


def portable_calls(workload: Workload, tasks: list[Task]) -> list[tuple[str, tuple[object, ...]]] | None:
    """The portable function and arguments of each task, or None when some task needs numpy."""
    says = getattr(workload, "portable", None)
    calls: list[tuple[str, tuple[object, ...]] | None] = [says(t) for t in tasks] if callable(says) else [None]
    found = [call for call in calls if call is not None]
    return found if len(found) == len(calls) else None


class Subinterpreters(BaseStrategy):
    """An interpreter with its own GIL per worker, created at setup; a thread per worker per run drives one."""

    name: ClassVar[str] = "subinterpreters"
    family: ClassVar[Family] = "interpreters"
    summary: ClassVar[str] = ("an isolated interpreter (own GIL) per worker in one process, a thread driving each; "
                              "python kernel only (numpy cannot load there)")
    # One process: setup creates interpreters (no process start), each reads its slice through a shared memoryview
    # (no copy) of the int64 input and writes its partials into int64 slots.
    input_travel: ClassVar[InputTravel] = "in-place"
    setup_starts: ClassVar[SetupStarts] = "nothing"
    int64_input: ClassVar[bool] = True
    int64_partials: ClassVar[bool] = True

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        reason = super().available(start_method)
        if reason:
            return reason
        version = ".".join(map(str, sys.version_info[:3]))
        try:
            _low_level()
        except ImportError:
            return (f"Python {version} has no interpreters with their own GIL to drive (3.13+: the _interpreters "
                    "module; 3.12's cannot share a buffer with one)")
        return None

    @classmethod
    def available_for(cls, workload: Workload) -> str | None:
        """Per workload and kernel: only what parbench.workloads.portable can compute runs here."""
        return None if portable_calls(workload, workload.tasks(1)) is not None else NO_NUMPY

    def setup(self) -> None:
        self.interps: list[int] = []
        self.start_ns: list[int] = []
        if portable_calls(self.ctx.workload, self.ctx.tasks()) is None:
            raise Unavailable(NO_NUMPY)
        module, source = _low_level(), inspect.getsource(portable)
        for _ in range(self.ctx.workers):
            t0 = time.perf_counter_ns()
            interp = module.create("isolated")
            self.interps.append(interp)
            self.start_ns.append(time.perf_counter_ns() - t0)
            config = getattr(module, "get_config", None)
            gil = getattr(config(interp), "gil", "own") if config else "own"
            if gil != "own":
                raise StrategyError(f"interpreter {interp} shares the main GIL (config gil={gil!r}): not parallel")
            # _interpreters must be imported there before a memoryview can be shared with it.
            self._exec(interp, source + "\nimport _interpreters\n")

    def _exec(self, interp: int, code: str) -> None:
        failure = _low_level().exec(interp, code)
        if failure is not None:
            raise StrategyError(f"interpreter {interp} raised {getattr(failure, 'formatted', failure)}")

    def _scatter(self) -> list[array.array[int]]:
        """Each interpreter gets its tasks' slices (memoryviews of the input: shared, not copied) and its slots."""
        ctx, module, slots = self.ctx, _low_level(), []
        data = None if ctx.data is None else memoryview(ctx.data)  # type: ignore[arg-type]  # numpy's buffer
        for interp, tasks in zip(self.interps, ctx.shares(), strict=False):
            calls = portable_calls(ctx.workload, tasks) or []
            views = [None if data is None else data[t.lo : t.hi] for t in tasks]
            out = array.array("q", [0] * len(tasks))
            module.set___main___attrs(interp, {"calls": tuple((f, v, a) for (f, a), v in zip(calls, views,
                                                                                             strict=True)),
                                               "out": memoryview(out)})
            slots.append(out)
        return slots

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("scatter")
        slots = self._scatter()
        errors: list[str] = []

        def drive(interp: int) -> None:
            try:
                self._exec(interp, RUN)
            except BaseException as exc:
                errors.append(str(exc))

        clock.mark("spawn")
        threads = [threading.Thread(target=drive, args=(i,), daemon=True) for i in self.interps[: len(slots)]]
        for thread in threads:
            thread.start()
        clock.mark("compute")
        for thread in threads:
            thread.join()
        clock.mark("gather")
        if errors:
            raise StrategyError(errors[0])
        return self.ctx.workload.combine(x for out in slots for x in out)

    def teardown(self) -> None:
        for interp in getattr(self, "interps", []):
            _low_level().destroy(interp)
        self.interps = []

    def extra(self) -> dict[str, Any]:
        """Each interpreter's creation time (ns): what starting a worker costs here, against a process start."""
        return {"interpreter_start_ns": list(getattr(self, "start_ns", []))}
