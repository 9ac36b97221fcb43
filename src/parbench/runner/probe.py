"""`python -m parbench.runner.probe`: measure one cell in a fresh process, pinned to its CPUs.

Two ways to get that fresh process (the sweep's `--isolation`):
- exec: `python -m parbench.runner.probe` reads a ProbeRequest as JSON on stdin, writes the Record as one
  JSON line on stdout and exits 0 whenever a record was written (whatever its status). A new interpreter per
  cell, like pyperf's workers: every cell also gets its own memory layout and hash seed.
- fork (default): `python -m parbench.runner.probe --serve` imports numpy and parbench once, then per
  request line forks a probe that puts itself in a process group of its own, pins itself, measures and
  exits. It is as fresh as exec for the cell (the server never runs a cell, so nothing leaks from one cell
  to the next) and saves the interpreter start-up, 0.3-0.6 s per cell on a small machine.
In both, everything the strategy or its workers print goes to stderr, never into the record.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import sys
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from parbench.interrupts import default_sigterm_in_forked_children
from parbench.results.schema import Cell


@dataclass(frozen=True)
class ProbeRequest:
    """What the driver asks a probe to do: one cell, so many warmups and timed repeats."""

    cell: Cell
    repeat: int
    warmup: int
    cpus: tuple[int, ...] = ()  # the driver's choice (least busy); empty: the probe takes the first usable

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell.to_dict(), "repeat": self.repeat, "warmup": self.warmup, "cpus": list(self.cpus)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ProbeRequest:
        return cls(Cell.from_dict(raw["cell"]), int(raw["repeat"]), int(raw["warmup"]),
                   tuple(int(c) for c in raw.get("cpus", ())))


class Terminated(BaseException):
    """SIGTERM from the driver (timeout, Ctrl-C): unwinds through measure() so teardown still runs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"terminated by signal {signum}")


def _measure_into(request: ProbeRequest, out: TextIO) -> int:
    """Pin, measure, write the record line: the part both ways of probing share."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    default_sigterm_in_forked_children()  # only the probe unwinds on SIGTERM; its workers die at once
    from parbench.runner.affinity import pin

    granted = pin(request.cell.workers, list(request.cpus))
    # Imported after pinning (in exec mode), so numpy's BLAS threads see the granted CPUs only.
    from parbench.runner.canary import canary_ns
    from parbench.runner.measure import measure

    try:
        before = canary_ns(granted)  # outside every timed window: before setup, after teardown
        record = measure(request.cell, request.repeat, request.warmup)
        record = replace(record, canary_ns=max(before, canary_ns(granted)))
    except Terminated:
        print("probe: stopped by the driver (SIGTERM) after tearing the strategy down", file=sys.stderr)
        return 128 + signal.SIGTERM
    out.write(record.to_json() + "\n")
    out.flush()
    return 0


def main() -> int:
    """Exec mode: one request on stdin, one record on stdout."""
    driver = os.getppid()
    request = ProbeRequest.from_dict(json.loads(sys.stdin.read()))
    sys.stdout.flush()
    record_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # workers inherit fd 1: their prints must not land in the record
    code = _measure_into(request, record_out)
    if os.getppid() != driver and os.getpgrp() == os.getpid():
        _stop_own_group()
    return code


def _stop_own_group() -> None:
    """The driver is gone (killed outright) and this probe leads its own process group (the exec launcher's new
    session): nobody will stop what the probe leaves behind, such as a pool worker forked while the pool was being
    terminated, so the whole group goes now, the probe with it (nobody reads its exit code). In fork mode the
    probe server does the same (runner.orphans.stop_orphaned_probe)."""
    sys.stderr.flush()
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _forked_probe(job: dict[str, Any]) -> int:
    """In the forked child: own process group, stdio to the job's files, measure. Never returns to the server."""
    os.setpgid(0, 0)
    null = os.open(os.devnull, os.O_RDONLY)
    err = os.open(job["err"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    for fd, target in ((0, null), (1, err), (2, err)):
        os.dup2(target, fd)
    for fd in {null, err} - {0, 1, 2}:  # duplicated onto 0-2: the originals would only leak into every worker
        os.close(fd)
    try:
        with Path(job["out"]).open("w") as out:
            return _measure_into(ProbeRequest.from_dict(job["request"]), out)
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _reply(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def serve() -> int:
    """Fork mode. Says {"ready": true} once loaded. Per cell, two lines in: {"request": ProbeRequest, "out": path,
    "err": path}, then {"reap": true} once the driver has seen the probe end; two lines out: {"pid": n} once the
    probe is forked, {"returncode": rc} once reaped (negative: killed by signal -rc). Ends at EOF on stdin."""
    import parbench.runner.measure  # noqa: F401
    from parbench import registry
    from parbench.errors import UserError

    # Loaded once, here: every forked probe starts with numpy, parbench and the local strategies imported.
    # Only those (stdlib, numpy, SharedArray): a cluster library may start threads when imported, and a fork
    # after threads can inherit a lock held by one; those load in the probe that needs them. A broken
    # strategy fails in the probe that asks for it, with its own message.
    from parbench.runner.presets import LOCAL

    for name in LOCAL:
        with contextlib.suppress(UserError):
            registry.get_strategy(name)
    # Everything loaded so far lives as long as the server: frozen, the collector never walks it again, neither
    # here nor in a forked probe, whose first gc.collect() would otherwise touch (and copy, page by page) the
    # whole inherited heap before its cell may start.
    gc.collect()
    gc.freeze()

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver owns Ctrl-C and stops each probe itself
    _reply({"ready": True})
    for line in sys.stdin:
        job = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os._exit(_forked_probe(job))  # never back into this loop: the child is a probe, not a server
        # Also here, so the group exists before the driver may signal it (the child may have got there first).
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        _reply({"pid": pid})
        # Reaped only when the driver asks (it has seen the probe end): until then the pid cannot be reused,
        # so the driver's pidfd and process-group signals can only ever reach this probe.
        if not sys.stdin.readline():
            from parbench.runner.orphans import stop_orphaned_probe

            stop_orphaned_probe(pid)  # the driver is gone: nobody will read the record or stop a hang
            break
        _, status = os.waitpid(pid, 0)
        _reply({"returncode": os.waitstatus_to_exitcode(status)})
    return 0


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1:] == ["--serve"] else main())
