"""joblib: `Parallel(n_jobs=workers, backend="loky")`, what most people reach for first.

Setup enters a Parallel context and starts (and warms) its loky worker processes; every run dispatches one
call per task through it. With n_jobs=1 joblib runs the calls in this process (no loky worker): the record
says so (`extra["backend"]`). joblib memory-maps arrays over 1 MB into a temporary folder instead of pickling
them: that transfer happens while it dispatches, so it is timed inside `compute`. loky keeps its executor
alive after Parallel returns (to reuse it): teardown shuts it down, so no loky worker outlives the cell.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import numpy as np

from parbench.errors import StrategyError
from parbench.strategies.base import BaseStrategy, Family, PhaseClock, describe_exception
from parbench.strategies.optional import installed
from parbench.workloads.base import Task, Workload


def _joblib_task(workload: Workload, chunk: np.ndarray | None, task: Task) -> int:
    return workload.kernel(chunk, task)


def _import(module: str) -> None:
    importlib.import_module(module)


class JoblibStrategy(BaseStrategy):
    """joblib.Parallel with the loky backend, entered once in setup; a delayed call per task each run."""

    name: ClassVar[str] = "joblib"
    family: ClassVar[Family] = "processes"
    summary: ClassVar[str] = ("joblib Parallel(n_jobs=workers, backend='loky'): loky workers reused, "
                              "large slices memory-mapped")

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        if not installed("joblib"):
            return "the joblib package is not installed (pip install joblib, or 'parbench[all]')"
        return super().available(start_method)  # start methods do not apply: it starts its workers its own way

    def setup(self) -> None:
        from joblib import Parallel, delayed

        self.parallel: Any = Parallel(n_jobs=self.ctx.workers, backend="loky")
        self.parallel.__enter__()
        # joblib runs n_jobs=1 in this process (its SequentialBackend): recorded, since that is what users get.
        backend = self.parallel._backend
        self.backend = "sequential" if type(backend).__name__ == "SequentialBackend" else "loky"
        # The executor loky keeps alive after the context: private, but the only handle to shut it down.
        self.executor = getattr(backend, "_workers", None)
        module = type(self.ctx.workload).__module__
        self._call(delayed(_import)(module) for _ in range(self.ctx.workers))

    def run(self, clock: PhaseClock) -> int:
        from joblib import delayed

        ctx = self.ctx
        clock.mark("compute")  # includes joblib's memory-mapping of the slices: it happens while dispatching
        partials = self._call(delayed(_joblib_task)(ctx.workload, ctx.workload.chunk(ctx.data, task), task)
                              for task in ctx.tasks())
        clock.mark("gather")
        return ctx.workload.combine(int(p) for p in partials)

    def _call(self, calls: Any) -> list[Any]:
        try:
            return list(self.parallel(calls))
        except Exception as exc:  # a task raised, or a worker died (TerminatedWorkerError)
            raise StrategyError(f"a joblib worker failed: {describe_exception(exc)}") from exc

    def teardown(self) -> None:
        parallel = getattr(self, "parallel", None)
        if parallel is None:
            return
        self.parallel = None
        parallel.__exit__(None, None, None)
        executor = getattr(self, "executor", None) or getattr(parallel._backend, "_workers", None)
        if executor is not None:
            executor.terminate(kill_workers=False)  # joins the workers, removes the memory-mapping folder

    def extra(self) -> dict[str, Any]:
        import joblib

        return {"backend": getattr(self, "backend", None), "n_jobs": self.ctx.workers,
                "joblib_version": joblib.__version__}
