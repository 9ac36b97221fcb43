"""dispy: one job per task, run by dispynode daemons: embedded on 127.0.0.1 by default, or a real cluster's.

Embedded (no `dispy_nodes`): setup starts dispynode processes on loopback addresses and free ports with a
fresh random secret (one node per usable-CPUs workers, see dispy_nodes.split_cpus), and teardown kills them
and removes their files. Remote: `dispy_nodes` names running nodes and `dispy_secret_file` their secret; the
nodes need parbench installed, since a job's arguments are parbench objects unpickled there.

Per run every task becomes a dispy job carrying its slice (dispy pickles it and sends it over TCP) and the
jobs are polled: status callbacks are not used, dispy 4.15 checks them with inspect.getargspec, which
Python 3.11 removed. A node that dies stops sending pulses and dispy moves its jobs to the other nodes
(reentrant); no node left, no job finishing for `cluster_timeout` seconds, or a job that raised, is a
StrategyError, never a hang.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from parbench.addresses import host_problem
from parbench.errors import StrategyError, UserError
from parbench.params import Param
from parbench.strategies.base import BaseStrategy, Context, Family, InputTravel, PhaseClock, SetupStarts, plain
from parbench.strategies.dispy_nodes import (
    LocalNode,
    NodeAddress,
    free_port,
    node_cpus,
    nodes_problem,
    parse_nodes,
    read_secret,
    split_cpus,
    spread,
    start_nodes,
    stop_nodes,
    wait_serving,
)
from parbench.strategies.dispynode_loopback import bind_udp_to_own_address
from parbench.strategies.optional import installed

if TYPE_CHECKING:
    import numpy as np

    from parbench.workloads.base import Task, Workload

OPTIONS: tuple[Param, ...] = (
    Param("dispy_nodes", str, "", "host[:port],... of running dispynodes (empty: start nodes on 127.0.0.1)",
          check=nodes_problem),
    Param("dispy_secret_file", str, "", "file holding the secret of the dispy_nodes (needed with them)"),
    Param("dispy_host", str, "", "address the dispy client listens on, reachable from the nodes "
                                 "(default: 127.0.0.1 for local nodes, else this host's address)",
          check=lambda host: host_problem(host) if host else None),
    Param("dispy_port", int, 0, "TCP port the dispy client listens on for results (0: a free one)",
          minimum=0, maximum=65535),
    Param("cluster_timeout", float, 60.0, "seconds to wait for nodes to join, and for the next job to finish",
          minimum=0.1),
)
# Nodes send a pulse this often while busy; dispy drops a node silent for 5 pulses and moves its jobs. Not
# shorter: a loaded node must not be taken for dead (its jobs would run twice and the timings lie).
_PULSE_S = 1.0
# How often a run waiting for jobs checks that nodes are left.
_NODE_CHECK_S = 0.5
# dispynode 4.15 races when a job ends before the node records its pid: the job comes back Terminated with
# this in its traceback and its result lost. The job is a pure function of its arguments: run it again.
_PID_RACE = "job_info.proc.pid"
_MAX_RETRIES = 3
# dispy logs a node it turns away as `Ignoring node <ip> (<why>)`, one whose setup failed as `Failed to setup
# <ip> for compute ...` followed by the traceback, whose last line is the exception.
_TURNED_AWAY = re.compile(r"Ignoring node ([^\s:]+):? \(?(.*?)\)?$")
_SETUP_FAILED = re.compile(r"Failed to setup (\S+) for compute")
_EXCEPTION = re.compile(r"^\w+(?:Error|Exception): ")
_CLOSE_S = 20.0


# Set by _dispy_node_setup on the nodes; here they only declare the names.
_parbench_workload_module: object = None
_parbench_prctl: Any = None


def _dispy_job(workload: "Workload", chunk: "np.ndarray | None", task: "Task") -> "Any":  # noqa: UP037
    # dispy ships this function as source and runs it on the node: it must stand alone, and its annotations
    # stay strings because the node evaluates the def without parbench's names in scope.
    if _parbench_prctl is not None:
        _parbench_prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: see _dispy_node_setup
    return workload.kernel(chunk, task)


def _dispy_node_setup(module: "str") -> int:  # noqa: UP037
    # Shipped as source like _dispy_job, run once per node in a process of its own. Defining globals makes
    # dispynode fork every job from this process, so jobs start with the workload's module (and numpy)
    # already imported instead of importing them one job at a time.
    global _parbench_workload_module, _parbench_prctl
    import ctypes
    import importlib
    import sys

    _parbench_workload_module = importlib.import_module(module)
    _parbench_prctl = None
    if sys.platform.startswith("linux"):
        # Die with the node: a node killed hard must not leave this process (or a job) behind.
        _parbench_prctl = ctypes.CDLL(None).prctl
        _parbench_prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    return 0


class LogTap:
    """Where dispy's and pycos's loggers write instead of stdout (which carries `run --json`): last lines kept."""

    def __init__(self, keep: int = 50) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)

    def write(self, text: str) -> int:
        self.lines.extend(line for line in text.splitlines() if line.strip())
        return len(text)

    def flush(self) -> None:
        return None

    def refusals(self) -> list[str]:
        """Why nodes were turned away or could not set the computation up, one sentence each."""
        lines = list(self.lines)
        found = []
        for i, line in enumerate(lines):
            if away := _TURNED_AWAY.search(line):
                ip, why = away.groups()
                found.append(f"dispy node {ip} turned this client away: the secrets differ (check "
                             f"--dispy-secret-file)" if "secret" in why else f"dispy turned node {ip} away: {why}")
            elif failed := _SETUP_FAILED.search(line):
                error = next((later for later in lines[i + 1:] if _EXCEPTION.match(later)), "see its log")
                hint = " (the nodes need parbench installed)" if "No module named" in error else ""
                found.append(f"dispy node {failed.group(1)} could not set the computation up: {error}{hint}")
        return found


class DispyStrategy(BaseStrategy):
    """dispy.JobCluster over dispynode daemons; one job per task, its slice pickled into the job."""

    name: ClassVar[str] = "dispy"
    pip_extra: ClassVar[str | None] = "dispy"
    input_travel: ClassVar[InputTravel] = "every-run"
    setup_starts: ClassVar[SetupStarts] = "cluster"
    family: ClassVar[Family] = "distributed"
    summary: ClassVar[str] = ("dispy JobCluster: a job per task (slice pickled) on dispynode daemons, "
                              "embedded on 127.0.0.1 or --dispy-nodes")
    options: ClassVar[tuple[Param, ...]] = OPTIONS

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        if not installed("dispy"):
            return "the dispy package is not installed (pip install 'parbench[dispy]')"
        return super().available(start_method)  # start methods do not apply: it starts its workers its own way

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        opts = {p.name: ctx.options.get(p.name, p.default) for p in OPTIONS}
        self.timeout = float(opts["cluster_timeout"])
        self.port = int(opts["dispy_port"])
        self.remote = parse_nodes(opts["dispy_nodes"]) if opts["dispy_nodes"] else None
        self.secret_file = str(opts["dispy_secret_file"])
        if self.remote is not None and not self.secret_file:
            raise UserError("--dispy-nodes needs --dispy-secret-file: the file holding the nodes' secret "
                            "(an empty file for nodes started without one)")
        self.host = str(opts["dispy_host"]) or None
        self.tap = LogTap()
        self.root: Path | None = None
        self.local: list[LocalNode] = []
        self.cluster: Any = None
        self.addresses: dict[str, NodeAddress] = {}  # node IP -> where it listens
        self.seen: dict[str, dict[str, Any]] = {}  # node IP -> name and CPUs as dispy reported them
        self.lost: set[str] = set()
        self.jobs_done: collections.Counter[str] = collections.Counter()
        self.job_seconds: collections.Counter[str] = collections.Counter()
        self.retries = 0
        self._saved_streams: list[tuple[Any, Any]] = []

    # -- setup: nodes, client, every node joined ------------------------------------------------------------

    def setup(self) -> None:
        import dispy

        self.root = Path(tempfile.mkdtemp(prefix=f"parbench-dispy-{os.getpid()}-"))
        self._redirect_logs(dispy)
        if self.remote is None:
            secret = secrets.token_hex(24)
            self.local = start_nodes(split_cpus(self.ctx.workers, node_cpus()), secret, self.root)
            wait_serving(self.local, self.timeout)
            shares = [(node.address, node.cpus) for node in self.local]
        else:
            secret = read_secret(self.secret_file)
            # Workers are spread over the nodes, one CPU at least each: fewer workers than nodes use the first.
            used = self.remote[: self.ctx.workers]
            shares = list(zip(used, spread(self.ctx.workers, len(used)), strict=True))
        module = (type(self.ctx.workload).__module__,)
        allocations = [dispy.NodeAllocate(a.host, port=a.port, cpus=cpus, setup_args=module) for a, cpus in shares]
        self.addresses = {alloc.ip_addr: address for alloc, (address, _) in zip(allocations, shares, strict=True)}
        self.cluster = self._open(dispy, allocations, secret)
        self._wait_joined(allocations)

    def _redirect_logs(self, dispy: Any) -> None:
        import pycos

        for logger in (dispy.logger, pycos.logger):
            self._saved_streams.append((logger, logger.stream))
            logger.stream = self.tap

    def _client_host(self) -> str | None:
        if self.host:
            return self.host
        local = all(a.host.startswith("127.") or a.host == "localhost" for a in self.remote or [])
        return "127.0.0.1" if local else None  # None: dispy picks this host's address

    def _open(self, dispy: Any, allocations: list[Any], secret: str) -> Any:
        assert self.root is not None
        host = self._client_host()
        self.port = self.port or free_port(host or "")
        self.client = f"{host or 'this host'}:{self.port}"
        bind_udp_to_own_address(dispy)
        try:
            return dispy.JobCluster(
                _dispy_job, nodes=allocations, depends=[], setup=_dispy_node_setup, host=host,
                dispy_port=self.port, secret=secret, loglevel=dispy.logger.WARNING, pulse_interval=_PULSE_S,
                reentrant=True,
                # Its fault-recovery files would land in the current directory otherwise.
                recover_file=str(self.root / "client-recover"))
        except Exception as exc:
            raise StrategyError(f"the dispy client could not start on {self.client}: {exc}") from exc

    def _wait_joined(self, allocations: list[Any]) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            joined = self._snapshot()
            missing = [ip for ip in self.addresses if ip not in joined]
            if not missing:
                break
            self._check_turned_away()
            self._check_local_alive(all_dead=False)
            if time.monotonic() > deadline:
                raise StrategyError(f"dispy node(s) {', '.join(str(self.addresses[ip]) for ip in missing)} did not "
                                    f"join within {self.timeout:g} s: not running, unreachable, or cannot reach this "
                                    f"client at {self.client} (firewall?)")
            # A ping that reached a node still starting up is lost: ask again.
            self.cluster.discover_nodes(allocations)
            time.sleep(0.05)
        offered = sum(int(info["cpus"]) for info in self.seen.values())
        if offered < self.ctx.workers:
            raise StrategyError(f"the dispy nodes serve {offered} CPU(s) in all, fewer than the "
                                f"{self.ctx.workers} workers asked")

    def _snapshot(self) -> set[str]:
        """The IPs of the nodes serving this cluster now; keeps their name and CPUs, notes the ones lost."""
        # dispy lists a node before its setup ran; update_time is set once the setup succeeded.
        now = {node.ip_addr: node for node in self.cluster.status().nodes if node.cpus > 0 and node.update_time}
        for ip, node in now.items():
            self.seen[ip] = {"name": node.name, "cpus": int(node.cpus)}
        self.lost |= set(self.seen) - set(now)
        return set(now)

    def _check_turned_away(self) -> None:
        refusals = self.tap.refusals()
        if refusals:
            raise StrategyError(refusals[0])

    def _check_local_alive(self, all_dead: bool) -> None:
        """Embedded nodes: one dead (during setup) or all dead (during a run) is a StrategyError now."""
        dead = [node for node in self.local if not node.alive()]
        if dead and (not all_dead or len(dead) == len(self.local)):
            raise StrategyError(dead[0].describe_death())

    # -- run: submit a job per task, poll them ----------------------------------------------------------------

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("scatter")  # submit pickles each job's slice; dispy sends it while earlier jobs compute
        pending = {self._submit(task): task for task in self.ctx.tasks()}
        clock.mark("compute")
        partials = self._collect(pending)
        clock.mark("gather")
        return self.ctx.workload.combine(partials[i] for i in sorted(partials))

    def _submit(self, task: Task) -> Any:
        workload = self.ctx.workload
        job = self.cluster.submit(workload, workload.chunk(self.ctx.data, task), task)
        if job is None:
            last = self.tap.lines[-1] if self.tap.lines else "no reason logged"
            raise StrategyError(f"dispy refused the job for task {task.index}: {last}")
        return job

    def _collect(self, pending: dict[Any, Task]) -> dict[int, int]:
        """Each task's partial by task index; resubmits jobs lost to the dispynode race."""
        partials: dict[int, int] = {}
        retries: collections.Counter[int] = collections.Counter()
        last_progress = time.monotonic()
        while pending:
            # Returns as soon as every job submitted so far is done; wakes up now and then to look at nodes.
            self.cluster.wait(timeout=_NODE_CHECK_S)
            finished = [job for job in pending if job.finish.is_set()]
            for job in finished:
                task = pending.pop(job)
                if self._lost_to_race(job) and retries[task.index] < _MAX_RETRIES:
                    retries[task.index] += 1
                    self.retries += 1
                    pending[self._submit(task)] = task
                else:
                    partials[task.index] = self._result(job, task)
            if finished:
                last_progress = time.monotonic()
            elif pending:
                self._check_stalled(len(pending), len(partials), time.monotonic() - last_progress)
        return partials

    def _check_stalled(self, pending: int, done: int, idle: float) -> None:
        self._check_local_alive(all_dead=True)
        if not self._snapshot():
            raise StrategyError(f"no dispy node left for {pending} pending job(s): "
                                f"lost {', '.join(sorted(self._label(ip) for ip in self.lost))}")
        if idle > self.timeout:
            raise StrategyError(f"no dispy job finished in {self.timeout:g} s ({pending} of {pending + done} "
                                f"pending; nodes: {self._describe_nodes()})")

    @staticmethod
    def _lost_to_race(job: Any) -> bool:
        import dispy

        return job.status == dispy.DispyJob.Terminated and _PID_RACE in str(job.exception or "")

    def _result(self, job: Any, task: Task) -> Any:
        import dispy

        where = f"on node {job.ip_addr}" if job.ip_addr else "before reaching a node"
        if job.status != dispy.DispyJob.Finished or job.exception:
            reason = str(job.exception or "").strip().splitlines()
            status = {dispy.DispyJob.Terminated: "terminated", dispy.DispyJob.Cancelled: "cancelled",
                      dispy.DispyJob.Abandoned: "abandoned"}.get(job.status, f"status {job.status}")
            raise StrategyError(f"dispy job for task {task.index} {status} {where}"
                                + (f": {reason[-1]}" if reason else ""))
        self.jobs_done[job.ip_addr] += 1
        if job.start_time and job.end_time:
            self.job_seconds[job.ip_addr] += job.end_time - job.start_time
        return plain(job.result)

    def _label(self, ip: str) -> str:
        return str(self.addresses.get(ip, ip))

    def _describe_nodes(self) -> str:
        return ", ".join(f"{self._label(ip)}{' (lost)' if ip in self.lost else ''}" for ip in self.seen) or "none"

    # -- teardown and metadata ----------------------------------------------------------------------------

    def teardown(self) -> None:
        if self.cluster is not None:
            with contextlib.suppress(Exception):  # a last look for the record: nodes lost while jobs still ran
                self._snapshot()
        cluster, self.cluster = self.cluster, None
        stuck = cluster is not None and not self._close(cluster)
        stop_nodes(self.local)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        for logger, stream in reversed(self._saved_streams):
            logger.stream = stream
        self._saved_streams = []
        if stuck:
            raise StrategyError(f"the dispy client did not close within {_CLOSE_S:g} s")

    def _close(self, cluster: Any) -> bool:
        """Close the cluster and shut the dispy client down, in a thread so a stuck close cannot hang us."""
        def close() -> None:
            cluster.close(timeout=1, terminate=True)  # cancels what is still pending
            cluster.shutdown()

        closer = threading.Thread(target=close, name="parbench-dispy-close", daemon=True)
        closer.start()
        closer.join(_CLOSE_S)
        self._forget_client()
        return not closer.is_alive()

    @staticmethod
    def _forget_client() -> None:
        # dispy's client is a process-wide singleton holding the secret and ports; shutdown forgets it, unless
        # jobs were still pending. The next cell must get a fresh one.
        import dispy
        import pycos

        pycos.Singleton.discard(dispy._Cluster)

    def extra(self) -> dict[str, Any]:
        nodes = [{"address": self._label(ip), "name": info["name"], "cpus": info["cpus"],
                  "jobs_done": self.jobs_done[ip], "job_seconds": round(self.job_seconds[ip], 6),
                  "lost": ip in self.lost} for ip, info in self.seen.items()]
        return {"mode": "remote" if self.remote is not None else "embedded", "client": getattr(self, "client", None),
                "nodes": nodes, "job_retries": self.retries, "pulse_interval_s": _PULSE_S,
                "dispy_log": list(self.tap.lines)[-10:]}
