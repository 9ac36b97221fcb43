"""ray: an embedded `ray.init(num_cpus=workers)` on this machine, or a running cluster at `ray_address`.

Embedded, setup starts Ray's daemons (gcs_server, raylet, the workers) with its temporary and session files
in a scratch folder of this process, a fresh token for Ray's token authentication in the environment (so no
token file is written under the home folder), and the owner tag of parbench.processes, so that a driver can
find and kill them even when this process dies by SIGKILL. A start that takes longer than `cluster_timeout`
is cut short. Every run puts the input in the object store once (`ray.put`, timed as `scatter`; workers on
this node read numpy arrays zero-copy), submits one task per slice (`compute`) and gets the partials
(`gather`). Teardown shuts Ray down and kills any of its processes still alive.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import secrets
import socket
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import psutil

from parbench.errors import StrategyError, UserError, WorkerDied
from parbench.params import Param
from parbench.processes import OWNER_ENV, alive, environment, owned_by, remove_tree, scratch_dir
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
)
from parbench.strategies.optional import installed
from parbench.workloads.base import Task, Workload


def address_problem(text: str) -> str | None:
    """What is wrong with `text` as HOST:PORT of a Ray head's GCS (empty: none given, nothing wrong)."""
    host, sep, port = text.strip().rpartition(":")
    if not text or (sep and host and port.isdigit() and 0 < int(port) < 65536 and not any(c in host for c in "/ ,")):
        return None
    return f"expected HOST:PORT of a Ray head (e.g. 10.0.0.1:6379), got {text!r}"


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` of a Ray head's GCS; anything else is a one-line UserError."""
    problem = address_problem(text)
    if problem:
        raise UserError(f"--ray-address: {problem}")
    host, _, port = text.strip().rpartition(":")
    return host, int(port)


OPTIONS: tuple[Param, ...] = (
    Param("ray_address", str, "", "HOST:PORT of a running Ray cluster's head (empty: start Ray on this machine)",
          check=address_problem),
    Param("cluster_timeout", float, 60.0, "seconds to wait for Ray to start or answer, and for the next task",
          minimum=0.1),
)
# How long Ray's processes get to exit after ray.shutdown() before they are killed.
EXIT_GRACE_S = 5.0


def _ray() -> Any:
    # Imported when a cell needs it (a second or more): `parbench list` stays fast.
    return importlib.import_module("ray")


@functools.cache
def _process_token() -> str:
    """One token per process: Ray's client caches the first token it reads, so a second embedded instance
    in the same process (the benches set strategies up in pytest's own process) must get the same one."""
    return secrets.token_hex(32)


def _ray_task(workload: Workload, data: np.ndarray | None, task: Task) -> Any:
    """One task in a Ray worker; `data` is the whole input, resolved from the object store (zero-copy)."""
    return workload.kernel(workload.chunk(data, task), task)


class RayStrategy(BaseStrategy):
    """Ray tasks over the input put once in the object store, on an embedded instance or a running cluster."""

    name: ClassVar[str] = "ray"
    pip_extra: ClassVar[str | None] = "ray"
    input_travel: ClassVar[InputTravel] = "every-run"
    setup_starts: ClassVar[SetupStarts] = "cluster"
    family: ClassVar[Family] = "distributed"
    summary: ClassVar[str] = ("ray.init(num_cpus=workers) or --ray-address: input ray.put once per run, a task "
                              "per slice")
    options: ClassVar[tuple[Param, ...]] = OPTIONS

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        if not installed("ray"):
            return "ray is not installed (pip install 'parbench[ray]')"
        return super().available(start_method)  # start methods do not apply: Ray starts its own workers

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        raw = str(ctx.options.get("ray_address", "") or "")
        self.address = parse_address(raw) if raw else None
        self.timeout = float(ctx.options.get("cluster_timeout", OPTIONS[1].default))
        self.scratch: Path | None = None
        self.env: contextlib.ExitStack | None = None
        self.remote: Any = None
        self.initialised = False
        self.info: dict[str, Any] = {}

    def setup(self) -> None:
        self.env = contextlib.ExitStack()
        self.env.enter_context(environment(self._environment()))
        try:
            self._connect() if self.address else self._start()
            ray = _ray()
            self.remote = ray.remote(max_retries=0)(_ray_task)  # a lost worker fails the run, never reruns
            warm = ray.remote(max_retries=0)(preload)
            self._get([warm.remote(type(self.ctx.workload).__module__) for _ in range(self.ctx.workers)])
        except (StrategyError, UserError):
            raise
        except Exception as exc:
            where = "the Ray cluster at {}:{}".format(*self.address) if self.address else "an embedded Ray"
            raise StrategyError(f"{where} failed to start: {describe_exception(exc)}") from exc

    def _environment(self) -> dict[str, str]:
        changes = {OWNER_ENV: str(os.getpid())}
        token = os.environ.get("RAY_AUTH_TOKEN") or (Path.home() / ".ray" / "auth_token").is_file()
        if not self.address and not token:
            # Ray enables token authentication for a new local instance and would save a token in ~/.ray.
            changes["RAY_AUTH_TOKEN"] = _process_token()
        elif self.address and token and "RAY_AUTH_MODE" not in os.environ:
            # A client sends its token only in token mode, which Ray does not infer when connecting.
            changes["RAY_AUTH_MODE"] = "token"
        return changes

    def _start(self) -> None:
        self.scratch = scratch_dir("ray")
        done = threading.Event()
        watchdog = threading.Thread(target=self._cut_short, args=(done,), daemon=True)
        watchdog.start()
        self.initialised = True  # shut down in teardown even when init fails half-way
        try:
            _ray().init(num_cpus=self.ctx.workers, include_dashboard=False, _temp_dir=str(self.scratch),
                        logging_level="ERROR", log_to_driver=False)
        except Exception as exc:
            if not done.is_set():
                raise
            raise StrategyError(f"Ray did not start within {self.timeout:g} s (--cluster-timeout)") from exc
        finally:
            done.set()
        self.info = {"mode": "local", "num_cpus": self.ctx.workers}

    def _cut_short(self, done: threading.Event) -> None:
        """Kill Ray's processes when ray.init has not returned within the timeout: init then fails."""
        if done.wait(self.timeout):
            return
        done.set()
        for proc in owned_by(os.getpid()):
            with contextlib.suppress(psutil.Error):
                proc.kill()

    def _connect(self) -> None:
        assert self.address is not None
        try:  # ray.init retries an unreachable head for minutes: look first, within the timeout
            socket.create_connection(self.address, timeout=self.timeout).close()
        except OSError as exc:
            raise StrategyError("cannot reach the Ray head at {}:{}: {}".format(*self.address, exc)) from None
        ray = _ray()
        self.initialised = True
        ray.init(address="{}:{}".format(*self.address), logging_level="ERROR", log_to_driver=False)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if cpus < self.ctx.workers:
            raise StrategyError(f"the Ray cluster offers {cpus} CPU(s), fewer than the {self.ctx.workers} "
                                "workers asked")
        self.info = {"mode": "remote", "address": "{}:{}".format(*self.address), "cluster_cpus": cpus,
                     "nodes": len(ray.nodes())}

    def run(self, clock: PhaseClock) -> Any:
        ray, ctx = _ray(), self.ctx
        clock.mark("scatter")
        data = ctx.data if ctx.data is None else ray.put(ctx.data)
        clock.mark("compute")
        pending = [self.remote.remote(ctx.workload, data, task) for task in ctx.tasks()]
        self._wait(pending)
        clock.mark("gather")
        return ctx.workload.combine(plain(p) for p in self._get(pending))

    def _wait(self, refs: list[Any]) -> None:
        """Wait for every task; none finishing for `cluster_timeout` seconds is a StrategyError."""
        ray, pending = _ray(), list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=self.timeout)
            if not done:
                raise StrategyError(f"no Ray task finished in {self.timeout:g} s ({len(pending)} of {len(refs)} "
                                    "pending)")

    def _get(self, refs: list[Any]) -> list[Any]:
        ray = _ray()
        try:
            return list(ray.get(refs, timeout=self.timeout))
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
            raise WorkerDied(f"a Ray worker died: {describe_exception(exc)}") from exc
        except ray.exceptions.RayError as exc:
            raise StrategyError(f"a Ray task failed: {describe_exception(exc)}") from exc

    def teardown(self) -> None:
        family = self._family()  # before the shutdown: Ray's agents are found as its processes' children only
        try:
            if self.initialised:
                self.initialised = False
                _ray().shutdown()
        finally:
            self._kill_leftovers(family)
            if self.scratch is not None:
                remove_tree(self.scratch)
                self.scratch = None
            env, self.env = self.env, None
            if env is not None:
                env.close()

    def _family(self) -> list[psutil.Process]:
        """The embedded Ray's processes (none for a remote cluster's, which are not ours): those carrying
        OWNER_ENV and their descendants, for Ray's agents do not keep the environment; an agent that outlived
        the shutdown would write its last log into the scratch folder after it was removed."""
        if self.address:
            return []
        found: dict[int, psutil.Process] = {}
        for proc in owned_by(os.getpid()):
            with contextlib.suppress(psutil.Error):
                found.update({p.pid: p for p in [proc, *proc.children(recursive=True)]})
        return list(found.values())

    def _kill_leftovers(self, family: list[psutil.Process]) -> None:
        """Ray's own processes still alive after its shutdown are killed."""
        procs = [p for p in {p.pid: p for p in [*family, *self._family()]}.values() if alive(p)]
        _, running = psutil.wait_procs(procs, timeout=EXIT_GRACE_S if procs else 0)
        for proc in running:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs([p for p in running if alive(p)], timeout=EXIT_GRACE_S)

    def extra(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {**self.info, "ray_version": version("ray")}
