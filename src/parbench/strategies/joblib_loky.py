"""joblib: `Parallel(n_jobs=workers, backend="loky")`, what most people reach for first.

Setup enters a Parallel context and starts (and warms) its loky worker processes; every run dispatches one
call per task through it. With n_jobs=1 joblib runs the calls in this process (no loky worker): the record
says so (`extra["backend"]`). joblib memory-maps arrays over 1 MB into a temporary folder instead of pickling
them: that transfer happens while it dispatches, so it is timed inside `compute`. loky keeps its executor
alive after Parallel returns (to reuse it): teardown shuts it down, so no loky worker outlives the cell.
"""

from __future__ import annotations

from typing import Any, ClassVar

from parbench.errors import StrategyError, WorkerDied
from parbench.strategies.base import (
    BaseStrategy,
    Family,
    InputTravel,
    PhaseClock,
    SetupStarts,
    describe_exception,
    plain,
    preload,
    run_task,
)
from parbench.strategies.optional import installed
from parbench.strategies.pool_deaths import DeathWatch


class JoblibStrategy(BaseStrategy):
    """joblib.Parallel with the loky backend, entered once in setup; a delayed call per task each run."""

    name: ClassVar[str] = "joblib"
    pip_extra: ClassVar[str | None] = "joblib"
    input_travel: ClassVar[InputTravel] = "every-run"
    setup_starts: ClassVar[SetupStarts] = "workers"
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

        self.clean = False  # until a call has returned: teardown then kills the workers instead of waiting
        parallel: Any = Parallel(n_jobs=self.ctx.workers, backend="loky")
        parallel.__enter__()
        self.parallel = parallel  # only once entered: teardown exits what was entered, nothing else
        # joblib runs n_jobs=1 in this process (its SequentialBackend): recorded, since that is what users get.
        backend = self.parallel._backend
        self.backend = "sequential" if type(backend).__name__ == "SequentialBackend" else "loky"
        # The executor loky keeps alive after the context: private, but the only handle to shut it down.
        self.executor = getattr(backend, "_workers", None)
        module = type(self.ctx.workload).__module__
        self._call(delayed(preload)(module) for _ in range(self.ctx.workers))
        # loky's worker processes by pid (private): after a death they name the dead one.
        self.deaths = DeathWatch((getattr(self.executor, "_processes", None) or {}).values())
        self.clean = True

    def run(self, clock: PhaseClock) -> Any:
        from joblib import delayed

        clock.mark("compute")  # includes joblib's memory-mapping of the slices: it happens while dispatching
        self.clean = False
        partials = self._call(delayed(run_task)(*item) for item in self.ctx.payload())
        self.clean = True
        clock.mark("gather")
        return self.ctx.workload.combine(plain(p) for p in partials)

    def _call(self, calls: Any) -> list[Any]:
        try:
            return list(self.parallel(calls))
        except Exception as exc:  # a task raised, or a worker died (TerminatedWorkerError)
            deaths = getattr(self, "deaths", None)
            death = deaths.death(timeout=1.0) if deaths is not None else None
            if death is not None:
                raise WorkerDied(death) from exc
            raise StrategyError(f"a joblib worker failed: {describe_exception(exc)}") from exc

    def teardown(self) -> None:
        parallel = getattr(self, "parallel", None)
        if parallel is None:
            return
        self.parallel = None
        executor = getattr(self, "executor", None) or getattr(parallel._backend, "_workers", None)
        try:
            parallel.__exit__(None, None, None)
        finally:
            if executor is not None:
                # Removes the memory-mapping folder. After a failed or interrupted call a task may still run
                # (hung, or ignoring the Ctrl-C the parent took): kill the workers rather than wait for it.
                executor.terminate(kill_workers=not getattr(self, "clean", True))

    def extra(self) -> dict[str, Any]:
        import joblib

        return {"backend": getattr(self, "backend", None), "n_jobs": self.ctx.workers,
                "joblib_version": joblib.__version__}
