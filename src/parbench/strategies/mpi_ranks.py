"""mpi and mpi-pickle (mpi4py): a job of `workers` ranks under `mpiexec`, started in setup, driven by the probe.

Layout: setup launches `mpiexec -n <workers> python -m mpi4py -m parbench.strategies.mpi_worker` (on this
machine, or on the hosts of an `mpi_hosts` hostfile) with the ranks left on the probe's CPUs (`--bind-to
none`); rank 0 connects back over an authenticated TCP connection and builds the input (see mpi_worker).
Each run the probe sends "run": `scatter` lasts until the root reports its Scatterv (or pickle-based
scatter) done, `compute` until the reduced total arrives (the Reduce of one integer per rank waits for the
slowest rank's compute), `gather` is the probe's decoding. The round trip between the probe and rank 0 is a
cost of this layout, paid in every run (tens of microseconds on one machine). Teardown sends "stop", waits
for mpiexec, and kills whatever of the job is left (each rank carries the probe's owner tag).
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection as mpc
import os
import secrets
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import psutil

from parbench.errors import StrategyError, UserError, WorkerDied
from parbench.params import Param
from parbench.processes import OWNER_ENV, owned_by, remove_tree, scratch_dir
from parbench.segments import SHM_DIR, segment_name
from parbench.strategies.base import BaseStrategy, Context, Family, InputTravel, PhaseClock, SetupStarts, describe_exit
from parbench.strategies.optional import installed


def hostfile_problem(path: str) -> str | None:
    """A hostfile that cannot be read is bad input, refused before anything starts (empty: none given)."""
    if path and (not os.access(path, os.R_OK) or os.path.isdir(path)):
        return f"cannot read the hostfile {path!r}"
    return None


OPTIONS: tuple[Param, ...] = (
    Param("mpi_hosts", str, "", "an MPI hostfile naming the machines to run ranks on (empty: this machine)",
          check=hostfile_problem),
    Param("cluster_timeout", float, 60.0, "seconds to wait for the ranks to start, and for each answer",
          minimum=0.1),
)
# Rank 0's authentication key travels in the environment, never on a command line anyone can read.
KEY_ENV = "PARBENCH_MPI_KEY"
# How long mpiexec gets to end after "stop" before it and its ranks are killed.
EXIT_GRACE_S = 5.0
LOG_TAIL_CHARS = 600


def mpiexec_flavour(mpiexec: str) -> str:
    """'openmpi' or 'mpich' (Hydra), from `mpiexec --version`; they spell their flags differently."""
    out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30, check=False)
    text = out.stdout + out.stderr
    return "openmpi" if "Open MPI" in text or "OpenRTE" in text else "mpich"


def mpiexec_command(mpiexec: str, ranks: int, hostfile: str, program: list[str]) -> list[str]:
    """The launch command: ranks left on the caller's CPUs, allowed to outnumber cores (and to run as root)."""
    if mpiexec_flavour(mpiexec) == "mpich":
        hosts = ["-f", hostfile] if hostfile else []
        return [mpiexec, "-n", str(ranks), "-bind-to", "none", *hosts, *program]
    root = ["--allow-run-as-root"] if os.geteuid() == 0 else []
    hosts = ["--hostfile", hostfile] if hostfile else []
    return [mpiexec, "-n", str(ranks), "--oversubscribe", "--bind-to", "none", *root, *hosts,
            "-x", KEY_ENV, "-x", OWNER_ENV, *program]


def no_delay(fd: int) -> None:
    """Small messages leave at once: rank 0 sends two in a row each run, and Nagle's algorithm would hold the
    second until the delayed ACK of the first (40 ms) arrives."""
    with socket.socket(fileno=os.dup(fd)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _MpiRanks(BaseStrategy):
    """Shared by both: launch, handshake, one "run" per repeat, stop."""

    family: ClassVar[Family] = "distributed"
    options: ClassVar[tuple[Param, ...]] = OPTIONS
    pickled: ClassVar[bool]
    pip_extra: ClassVar[str | None] = "mpi"
    input_travel: ClassVar[InputTravel] = "every-run"
    setup_starts: ClassVar[SetupStarts] = "cluster"

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        missing = [what for what, ok in (("mpi4py (pip install 'parbench[mpi]')", installed("mpi4py")),
                                         ("mpiexec (apt-get install openmpi-bin libopenmpi-dev)",
                                          shutil.which("mpiexec") is not None)) if not ok]
        if missing:
            return f"{' and '.join(missing)} not installed"
        return super().available(start_method)  # start methods do not apply: mpiexec starts the ranks

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.hostfile = str(ctx.options.get("mpi_hosts", "") or "")
        problem = hostfile_problem(self.hostfile)  # also when the cell did not come through make_cell
        if problem:
            raise UserError(f"--mpi-hosts: {problem}")
        self.timeout = float(ctx.options.get("cluster_timeout", OPTIONS[1].default))
        self.scratch: Path | None = None
        self.backing: Path | None = None
        self.job: subprocess.Popen[bytes] | None = None
        self.conn: mpc.Connection | None = None
        self.ranks = 0

    def setup(self) -> None:
        self.scratch = scratch_dir("mpi")
        key = secrets.token_bytes(32)
        with socket.create_server(("", 0) if self.hostfile else ("127.0.0.1", 0)) as server:
            port = server.getsockname()[1]
            host = socket.getfqdn() if self.hostfile else "127.0.0.1"
            self._launch(key, host, port)
            self.conn = self._accept(server, key)
        self.conn.send((self.ctx.workload, self.pickled))
        self.ranks = int(self._expect("ready"))

    def _launch(self, key: bytes, host: str, port: int) -> None:
        assert self.scratch is not None
        mpiexec = shutil.which("mpiexec") or "mpiexec"
        program = [sys.executable, "-m", "mpi4py", "-m", "parbench.strategies.mpi_worker", host, str(port)]
        env = {**os.environ, KEY_ENV: key.hex(), OWNER_ENV: str(os.getpid()), **self._backing_env()}
        with (self.scratch / "mpiexec.log").open("wb") as log:  # ranks' output must not reach the probe's stdout
            self.job = subprocess.Popen(mpiexec_command(mpiexec, self.ctx.workers, self.hostfile, program),
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)

    def _accept(self, server: socket.socket, key: bytes) -> mpc.Connection:
        """Rank 0's connection, authenticated both ways; mpiexec ending or the timeout first is an error."""
        waited = 0.0
        server.settimeout(0.1)
        while True:
            try:
                sock, _ = server.accept()
                break
            except TimeoutError:
                waited += 0.1
                self._check_job()
                if waited >= self.timeout:
                    raise StrategyError(f"the MPI ranks did not connect within {self.timeout:g} s "
                                        f"(--cluster-timeout){self._log_tail()}") from None
        sock.setblocking(True)  # multiprocessing's Connection reads the descriptor as a blocking one
        no_delay(sock.fileno())
        conn = mpc.Connection(sock.detach())
        mpc.deliver_challenge(conn, key)  # what Listener.accept does
        mpc.answer_challenge(conn, key)
        return conn

    def _check_job(self) -> None:
        if self.job is not None and self.job.poll() is not None:
            raise WorkerDied(f"mpiexec (pid {self.job.pid}) {describe_exit(self.job.returncode)}{self._log_tail()}")

    def _log_tail(self) -> str:
        log = self.scratch / "mpiexec.log" if self.scratch else None
        text = log.read_text(errors="replace").strip() if log and log.exists() else ""
        return f": {' '.join(text[-LOG_TAIL_CHARS:].split())}" if text else ""

    def _expect(self, what: str) -> Any:
        """The next message from rank 0, which must be `what`; its value."""
        assert self.conn is not None and self.job is not None
        ready = mpc.wait([self.conn, self.job_sentinel()], timeout=self.timeout)
        if self.conn not in ready:
            self._check_job()
            raise StrategyError(f"the MPI root sent nothing for {self.timeout:g} s (waiting for {what!r})")
        try:
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            self.job.wait(EXIT_GRACE_S)
            self._check_job()
            raise WorkerDied(f"the MPI root closed its connection{self._log_tail()}") from None
        if kind == "error":
            raise StrategyError(f"an MPI rank raised {value}")
        if kind != what:
            raise StrategyError(f"the MPI root sent {kind!r} where {what!r} was due")
        return value

    def job_sentinel(self) -> int:
        """A pidfd of mpiexec: readable once it exited, so a wait wakes up at once when the job dies."""
        if not hasattr(self, "_pidfd"):
            assert self.job is not None
            self._pidfd = os.pidfd_open(self.job.pid)
        return self._pidfd

    def run(self, clock: PhaseClock) -> Any:
        assert self.conn is not None
        clock.mark("scatter")
        self.conn.send("run")
        self._expect("scattered")
        clock.mark("compute")
        total = self._expect("result")
        clock.mark("gather")
        return int(total)

    def teardown(self) -> None:
        conn, self.conn = self.conn, None
        job, self.job = self.job, None
        try:
            if conn is not None:
                with contextlib.suppress(OSError, ValueError):
                    conn.send("stop")
                conn.close()
            if job is not None:
                self._end(job)
        finally:
            if hasattr(self, "_pidfd"):
                os.close(self._pidfd)
                del self._pidfd
            if self.scratch is not None:
                remove_tree(self.scratch)
                self.scratch = None
            if self.backing is not None:
                remove_tree(self.backing)
                self.backing = None

    def _backing_env(self) -> dict[str, str]:
        """Open MPI's shared-memory transport keeps one file per rank in /dev/shm, which a killed job leaves
        behind: they go in a folder named like parbench's own segments (parbench.segments), so teardown, or a
        driver cleaning up after a killed probe, removes them with the rest."""
        if not SHM_DIR.is_dir():
            return {}
        self.backing = SHM_DIR / segment_name("mpi")
        self.backing.mkdir(mode=0o700)
        return {name: str(self.backing) for name in ("OMPI_MCA_btl_vader_backing_directory",
                                                     "OMPI_MCA_btl_sm_backing_directory")}  # Open MPI 4, 5

    @staticmethod
    def _end(job: subprocess.Popen[bytes]) -> None:
        """mpiexec and every rank gone: a grace to exit after "stop", then SIGKILL to what is left."""
        try:
            job.wait(EXIT_GRACE_S)
        except subprocess.TimeoutExpired:
            job.kill()
            job.wait()
        left = owned_by(os.getpid())
        for proc in left:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(left, timeout=EXIT_GRACE_S)

    def extra(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {"ranks": self.ranks, "hostfile": self.hostfile or None, "pickled": self.pickled,
                "mpi4py_version": version("mpi4py")}


class MpiStrategy(_MpiRanks):
    """Buffer-based collectives: Scatterv of the slices, Reduce of the partials (no pickling)."""

    name: ClassVar[str] = "mpi"
    summary: ClassVar[str] = ("mpi4py ranks under mpiexec (setup), driven by the probe: Scatterv of the slices, "
                              "Reduce of the partials")
    pickled: ClassVar[bool] = False
    int64_input: ClassVar[bool] = True  # Scatterv of the raw slices
    int64_partials: ClassVar[bool] = True  # Reduce of an int64


class MpiPickleStrategy(_MpiRanks):
    """Pickle-based collectives: lowercase scatter of the slices, reduce of the partials."""

    name: ClassVar[str] = "mpi-pickle"
    summary: ClassVar[str] = ("mpi4py ranks under mpiexec (setup), driven by the probe: pickle-based scatter "
                              "and reduce")
    pickled: ClassVar[bool] = True
