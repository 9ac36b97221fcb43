"""dask: a distributed.LocalCluster of single-threaded worker processes, or a running scheduler's workers.

Setup starts `LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)` on 127.0.0.1 with no
dashboard (or connects to `dask_scheduler`), and imports the workload's module on every worker. Each run
scatters the slices to the workers (`scatter`), maps the kernel over them where they lie (`compute`) and
gathers the partials (`gather`). Keys are never reused between runs (`hash=False`, `pure=False`): a repeat
must compute, not find the previous repeat's results still in worker memory.
"""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from parbench.addresses import scheduler_problem
from parbench.errors import StrategyError
from parbench.params import Param
from parbench.processes import remove_tree
from parbench.strategies.base import (
    BaseStrategy,
    Context,
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

OPTIONS: tuple[Param, ...] = (
    Param("dask_scheduler", str, "", "address of a running dask scheduler, e.g. tcp://10.0.0.1:8786 "
                                     "(empty: start a LocalCluster)",
          check=lambda address: scheduler_problem(address) if address else None),
    Param("cluster_timeout", float, 60.0, "seconds to wait for workers to join, and for the next task to finish",
          minimum=0.1),
)


def _distributed() -> Any:
    # Imported when a cell needs it, never at module import (`parbench list` stays fast); typed Any because
    # distributed's own annotations are partial.
    return importlib.import_module("distributed")


class DaskStrategy(BaseStrategy):
    """Dask distributed: slices scattered to worker processes, the kernel mapped over them."""

    name: ClassVar[str] = "dask"
    pip_extra: ClassVar[str | None] = "dask"
    input_travel: ClassVar[InputTravel] = "every-run"
    setup_starts: ClassVar[SetupStarts] = "cluster"
    family: ClassVar[Family] = "distributed"
    summary: ClassVar[str] = ("dask LocalCluster (1 thread per worker process) or --dask-scheduler: slices "
                              "scattered, kernel mapped")
    options: ClassVar[tuple[Param, ...]] = OPTIONS

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        if not (installed("dask") and installed("distributed")):
            return "dask.distributed is not installed (pip install 'parbench[dask]')"
        return super().available(start_method)  # start methods do not apply: it starts its workers its own way

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.address = str(ctx.options.get("dask_scheduler", "") or "")
        self.timeout = float(ctx.options.get("cluster_timeout", OPTIONS[1].default))
        self.scratch: Path | None = None
        self.config: Any = None
        self.cluster: Any = None
        self.client: Any = None
        self.workers: list[str] = []
        self.info: dict[str, Any] = {}

    def setup(self) -> None:
        import dask

        client_class = _distributed().Client
        # Scheduler and workers keep their scratch files here instead of a dask-scratch-space left in /tmp.
        self.scratch = Path(tempfile.mkdtemp(prefix=f"parbench-dask-{os.getpid()}-"))
        self.config = dask.config.set({"temporary-directory": str(self.scratch)})
        try:
            if self.address:
                self.client = client_class(self.address, timeout=self.timeout)
            else:
                self.cluster = self._local_cluster()
                self.client = client_class(self.cluster, timeout=self.timeout)
            self.workers = self._pick_workers()
            # Every worker imports the workload's module now, so the first run does not pay for it.
            self.client.run(preload, type(self.ctx.workload).__module__, workers=self.workers)
        except StrategyError:
            raise
        except Exception as exc:
            where = self.address or "a LocalCluster"
            raise StrategyError(f"dask on {where} failed to start: {describe_exception(exc)}") from exc

    def _local_cluster(self) -> Any:
        return _distributed().LocalCluster(
            n_workers=self.ctx.workers, threads_per_worker=1, processes=True, host="127.0.0.1", scheduler_port=0,
            dashboard_address=None, silence_logs=logging.ERROR)

    def _pick_workers(self) -> list[str]:
        """The workers this cell uses: enough of them for `workers` threads (all of a LocalCluster's)."""
        self.client.wait_for_workers(1 if self.address else self.ctx.workers, timeout=self.timeout)
        found = sorted(self.client.scheduler_info(n_workers=-1)["workers"].items())
        picked, threads = [], 0
        for address, worker in found:
            if threads >= self.ctx.workers:
                break
            picked.append(address)
            threads += int(worker["nthreads"])
        if threads < self.ctx.workers:
            raise StrategyError(f"the dask scheduler at {self.address} has {threads} worker thread(s), fewer than "
                                f"the {self.ctx.workers} workers asked")
        self.info = {"scheduler": self.client.scheduler.address, "mode": "remote" if self.address else "local",
                     "workers": [{"address": a, "nthreads": int(w["nthreads"]), "name": str(w.get("name"))}
                                 for a, w in found if a in picked]}
        return picked

    def run(self, clock: PhaseClock) -> Any:
        ctx, client = self.ctx, self.client
        try:
            clock.mark("scatter")
            workloads, slices, tasks = zip(*ctx.payload(), strict=True)
            chunks: list[Any] = list(slices)
            if ctx.data is not None:
                chunks = client.scatter(chunks, workers=self.workers, hash=False)
            clock.mark("compute")
            futures = client.map(run_task, workloads, chunks, tasks, pure=False, workers=self.workers)
            self._wait(futures)
            clock.mark("gather")
            partials = client.gather(futures)
        except StrategyError:
            raise
        except Exception as exc:
            raise StrategyError(f"a dask task failed: {describe_exception(exc)}") from exc
        return ctx.workload.combine(plain(p) for p in partials)

    def _wait(self, futures: list[Any]) -> None:
        """Wait for every future; no future finishing for `cluster_timeout` seconds is a StrategyError."""
        wait = _distributed().wait
        pending = set(futures)
        while pending:
            try:
                done = wait(pending, timeout=self.timeout, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                raise StrategyError(f"no dask task finished in {self.timeout:g} s "
                                    f"({len(pending)} of {len(futures)} pending)") from None
            pending -= done

    def teardown(self) -> None:
        client, self.client = self.client, None
        cluster, self.cluster = self.cluster, None
        try:
            try:
                if client is not None:
                    client.close(timeout=self.timeout)
            finally:  # also when the client's close timed out: the cluster's worker processes must stop
                if cluster is not None:
                    cluster.close(timeout=self.timeout)  # stops the nannies and their worker processes
        finally:
            config, self.config = self.config, None
            if config is not None:
                config.__exit__(None, None, None)
            if self.scratch is not None:
                remove_tree(self.scratch)
                self.scratch = None

    def extra(self) -> dict[str, Any]:
        return dict(self.info)
