"""Starting probe processes: a new interpreter per cell (exec) or a fork from a probe server (fork).

Either way the probe leads a process group of its own, outside the driver's terminal session, so the
driver can signal the whole cell at once and a Ctrl-C at the terminal reaches the driver alone. The probe
writes its record to the `out` file and its chatter to the `err` file (files, not pipes: a leftover
descendant holding a pipe open could never make the driver wait for an EOF).
"""

from __future__ import annotations

import contextlib
import json
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from parbench.errors import StrategyError
from parbench.lifelines import die_with_parent
from parbench.runner.probe import ProbeRequest

PROBE_MODULE = "parbench.runner.probe"
SERVER_START_TIMEOUT_S = 120.0


class LaunchError(StrategyError):
    """No probe could be started (the probe server died or never came up)."""


@dataclass(frozen=True)
class Launched:
    """A started probe: its pid (and process group), and how to learn its return code once it has exited."""

    pid: int
    reap: Callable[[], int | None]


class Launcher(Protocol):
    def launch(self, request: ProbeRequest, out: Path, err: Path) -> Launched: ...
    def close(self) -> None: ...


class ExecLauncher:
    """`python -m parbench.runner.probe` per cell: a new interpreter, memory layout and hash seed each time."""

    def launch(self, request: ProbeRequest, out: Path, err: Path) -> Launched:
        with out.open("wb") as out_file, err.open("wb") as err_file:
            # SIGTERM when the driver dies (it is killed outright): the probe tears its strategy down and ends,
            # instead of measuring on for nobody, with no deadline.
            proc = subprocess.Popen([sys.executable, "-m", PROBE_MODULE], stdin=subprocess.PIPE, stdout=out_file,
                                    stderr=err_file, start_new_session=True, close_fds=True,
                                    preexec_fn=die_with_parent(signal.SIGTERM))  # noqa: PLW1509
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError), proc.stdin:  # it died before reading: its exit code says why
            proc.stdin.write(request.to_json().encode())
        return Launched(proc.pid, proc.wait)

    def close(self) -> None:
        return None


class ForkServer:
    """`python -m parbench.runner.probe --serve`, started once per sweep; it forks a fresh probe per cell."""

    def __init__(self, workdir: Path) -> None:
        self.err_path = workdir / "probe-server.err"
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        self.close()  # a server that died: its pipes
        with self.err_path.open("ab") as err:
            proc = subprocess.Popen([sys.executable, "-m", PROBE_MODULE, "--serve"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
                                    start_new_session=True, close_fds=True)
        self.proc = proc
        assert proc.stdout is not None
        # Nothing is buffered before its first line, so select on the pipe is exact here.
        if not select.select([proc.stdout], [], [], SERVER_START_TIMEOUT_S)[0]:
            self.close()
            raise LaunchError(f"the probe server did not start within {SERVER_START_TIMEOUT_S:g} s: {self._stderr()}")
        if self._receive() != {"ready": True}:
            raise LaunchError(f"the probe server did not start: {self._stderr()}")
        return proc

    def _receive(self) -> dict[str, Any] | None:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        try:
            reply = json.loads(line) if line.strip() else None
        except ValueError:  # something printed on the server's stdout: a reply lost, the server unusable
            raise LaunchError(f"the probe server answered {line.strip()[:200]!r}: {self._stderr()}") from None
        return reply if isinstance(reply, dict) else None

    def _stderr(self) -> str:
        text = self.err_path.read_text(errors="replace").strip() if self.err_path.exists() else ""
        return text[-1000:] or "no message"

    def launch(self, request: ProbeRequest, out: Path, err: Path) -> Launched:
        proc = self.proc if self.proc is not None and self.proc.poll() is None else self._start()
        job = {"request": request.to_dict(), "out": str(out), "err": str(err)}
        # The caller holds Ctrl-C off until the pid is back (runner.sweep.measure_isolated).
        assert proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(job) + "\n")
            proc.stdin.flush()
        except BrokenPipeError:
            raise LaunchError(f"the probe server died: {self._stderr()}") from None
        reply = self._receive()
        if reply is None or "pid" not in reply:
            raise LaunchError(f"the probe server died: {self._stderr()}")
        return Launched(int(reply["pid"]), self._reap)

    def _reap(self) -> int | None:
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"reap": True}) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        reply = self._receive()
        return None if reply is None else int(reply["returncode"])

    def close(self) -> None:
        """End the server: EOF on its stdin, then SIGKILL if it does not go."""
        if self.proc is None:
            return
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


def launcher(isolation: str, workdir: Path) -> Launcher:
    if isolation == "exec":
        return ExecLauncher()
    return ForkServer(workdir)
