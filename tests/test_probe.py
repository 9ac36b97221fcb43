"""The probe, both ways: one record per request, pinned to min(workers, usable CPUs), in a process group of its
own (fork mode), chatter kept out of the record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conftest import wait_until
from parbench.cpus import usable_cpus
from parbench.interrupts import Interrupted, interruptible
from parbench.results.schema import Cell, Record
from parbench.runner.cells import make_cell
from parbench.runner.launch import ForkServer, Launched
from parbench.runner.plan import PlannedCell
from parbench.runner.probe import ProbeRequest
from parbench.runner.sweep import Limits, measure_isolated


def _request(workers: int) -> ProbeRequest:
    strategy = "sequential" if workers == 1 else "threads"
    return ProbeRequest(make_cell("array-sum", {"size": 1000}, strategy, workers), repeat=2, warmup=1)


def test_exec_probe_writes_exactly_one_record_line_pinned_to_its_workers() -> None:
    """`python -m parbench.runner.probe`: stdout is one JSON record, with min(workers, usable) granted CPUs."""
    proc = subprocess.run([sys.executable, "-m", "parbench.runner.probe"], input=_request(2).to_json(),
                          capture_output=True, text=True, timeout=60, check=True)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    record = Record.from_dict(json.loads(lines[0]))
    assert record.status == "OK" and len(record.timed) == 2
    assert len(record.cpus) == min(2, len(usable_cpus()))


def test_fork_server_probe_leads_its_own_group_and_is_pinned_to_one_cpu(tmp_path: Path) -> None:
    """A probe forked by the server has pgid == pid (the driver signals the whole cell), and a workers=1 cell
    gets exactly one CPU."""
    slow = ProbeRequest(make_cell("delayed-square", {"size": 2, "delay": 0.3}, "sequential", 1), repeat=1, warmup=0)
    server = ForkServer(tmp_path)
    try:
        out = tmp_path / "out"
        launched = server.launch(slow, out, tmp_path / "err")
        assert os.getpgid(launched.pid) == launched.pid  # still sleeping: the group is there to see
        assert launched.reap() == 0
        record = Record.from_dict(json.loads(out.read_text()))
        assert record.status == "OK"
        assert len(record.cpus) == 1
    finally:
        server.close()
    assert server.proc is None


def _catches_sigterm(pid: int) -> bool:
    caught = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigCgt"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def test_pool_workers_of_a_probe_die_on_sigterm_instead_of_inheriting_its_handler(tmp_path: Path) -> None:
    """Only the probe turns SIGTERM into a clean unwind; its forked pool workers keep the default, so that
    Pool.terminate() in teardown can never wait on a worker that noted the signal but sleeps on a lock."""
    slow = ProbeRequest(make_cell("delayed-square", {"size": 4, "delay": 0.4}, "pool-map", 2), repeat=1, warmup=0)
    server = ForkServer(tmp_path)
    try:
        launched = server.launch(slow, tmp_path / "out", tmp_path / "err")

        def pool_workers() -> list[psutil.Process] | None:
            kids = psutil.Process(launched.pid).children()
            return kids if len(kids) >= 2 else None

        workers = wait_until(pool_workers, 30, "the probe's 2 pool workers")
        assert len(workers) == 2
        assert _catches_sigterm(launched.pid)
        # A worker forked a moment ago may not have run its after-fork hook yet: wait for the steady state.
        wait_until(lambda: not any(_catches_sigterm(w.pid) for w in workers), 30, "the workers' default SIGTERM")
        assert not any(_catches_sigterm(w.pid) for w in workers)
        assert launched.reap() == 0
    finally:
        server.close()


class _InterruptedLauncher:
    """Starts a real stand-in probe (a sleeping interpreter in its own session), and a Ctrl-C lands before the
    launcher has returned its pid: the window where a probe used to outlive the sweep."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self, request: ProbeRequest, out: Path, err: Path) -> Launched:
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        signal.raise_signal(signal.SIGINT)
        return Launched(self.proc.pid, self.proc.wait)

    def close(self) -> None:
        return None


def test_ctrl_c_while_a_probe_is_launched_still_stops_that_probe(tmp_path: Path) -> None:
    launcher = _InterruptedLauncher()
    cell = PlannedCell(Cell("array-sum", {"size": 10, "kernel": "python", "fill": "arange"}, "sequential", 1),
                       "sequential")
    with pytest.raises(Interrupted), interruptible():
        measure_isolated(cell, Limits(1, 0, 30), launcher, tmp_path)
    assert launcher.proc is not None
    assert launcher.proc.poll() is not None  # stopped and reaped, not left running for 60 s
