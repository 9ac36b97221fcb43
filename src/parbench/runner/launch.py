"""Starting probe processes: a new interpreter per cell (exec) or a fork from a probe server (fork).

Either way the probe leads a process group of its own, outside the driver's terminal session, so the
driver can signal the whole cell at once and a Ctrl-C at the terminal reaches the driver alone. The probe
writes its record to the `out` file and its chatter to the `err` file (files, not pipes: a leftover
descendant holding a pipe open could never make the driver wait for an EOF).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from parbench.errors import StrategyError
from parbench.lifelines import die_with_parent
from parbench.results.interpreter import GIL_ENV
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

    def __init__(self, python: str | None = None, env: Mapping[str, str] | None = None) -> None:
        self.python, self.env = python or sys.executable, env

    def launch(self, request: ProbeRequest, out: Path, err: Path) -> Launched:
        with out.open("wb") as out_file, err.open("wb") as err_file:
            # SIGTERM when the driver dies (it is killed outright): the probe tears its strategy down and ends,
            # instead of measuring on for nobody, with no deadline.
            proc = subprocess.Popen([self.python, "-m", PROBE_MODULE], stdin=subprocess.PIPE, stdout=out_file,
                                    stderr=err_file, start_new_session=True, close_fds=True, env=self.env,
                                    preexec_fn=die_with_parent(signal.SIGTERM))  # noqa: PLW1509
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError), proc.stdin:  # it died before reading: its exit code says why
            proc.stdin.write(request.to_json().encode())
        return Launched(proc.pid, proc.wait)

    def close(self) -> None:
        return None


class ForkServer:
    """`python -m parbench.runner.probe --serve`, started once per sweep; it forks a fresh probe per cell."""

    def __init__(self, workdir: Path, python: str | None = None, env: Mapping[str, str] | None = None,
                 name: str = "probe-server") -> None:
        self.err_path = workdir / f"{name}.err"
        self.proc: subprocess.Popen[str] | None = None
        self.python, self.env = python or sys.executable, env

    def _start(self) -> subprocess.Popen[str]:
        self.close()  # a server that died: its pipes
        with self.err_path.open("ab") as err:
            proc = subprocess.Popen([self.python, "-m", PROBE_MODULE, "--serve"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1,
                                    start_new_session=True, close_fds=True, env=self.env)
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


def _one(isolation: str, workdir: Path, python: str | None = None, env: Mapping[str, str] | None = None,
         name: str = "probe-server") -> Launcher:
    return ExecLauncher(python, env) if isolation == "exec" else ForkServer(workdir, python, env, name)


class PerInterpreter:
    """Probes of each cell under its interpreter (Cell.python) and GIL setting (Cell.gil): one launcher per pair,
    started at its first cell. PYTHON_GIL is read when an interpreter starts, so a probe server serves one."""

    def __init__(self, isolation: str, workdir: Path, pythons: Mapping[str, str]) -> None:
        self.isolation, self.workdir, self.pythons = isolation, workdir, pythons
        self.started: dict[tuple[str | None, str | None], Launcher] = {}

    def _for(self, python: str | None, gil: str | None) -> Launcher:
        if (python, gil) not in self.started:
            env = None if gil is None else {**os.environ, "PYTHON_GIL": GIL_ENV[gil]}
            name = "probe-server" if python is None and gil is None else f"probe-server-{len(self.started)}"
            exe = None if python is None else self.pythons[python]
            self.started[python, gil] = _one(self.isolation, self.workdir, exe, env, name)
        return self.started[python, gil]

    def launch(self, request: ProbeRequest, out: Path, err: Path) -> Launched:
        return self._for(request.cell.python, request.cell.gil).launch(request, out, err)

    def close(self) -> None:
        for started in self.started.values():
            started.close()


def launcher(isolation: str, workdir: Path, pythons: Mapping[str, str] | None = None) -> Launcher:
    """How probes start; `pythons` maps each Cell.python of the sweep to its environment's python."""
    if not pythons:
        return _one(isolation, workdir)
    return PerInterpreter(isolation, workdir, pythons)
