"""`python -m parbench.runner.probe`: measure one cell in this fresh process, pinned to its CPUs.

Protocol: a ProbeRequest as JSON on stdin; the Record as one JSON line on stdout; exit 0 whenever a record
was written (whatever its status). Anything else (a traceback, a signal) is a crash the driver records.
Everything the strategy or its workers print goes to stderr, so stdout carries the record alone.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

from parbench.results.schema import Cell


@dataclass(frozen=True)
class ProbeRequest:
    """What the driver asks a probe to do: one cell, so many warmups and timed repeats."""

    cell: Cell
    repeat: int
    warmup: int

    def to_json(self) -> str:
        return json.dumps({"cell": self.cell.to_dict(), "repeat": self.repeat, "warmup": self.warmup})

    @classmethod
    def from_json(cls, text: str) -> ProbeRequest:
        raw: dict[str, Any] = json.loads(text)
        return cls(Cell.from_dict(raw["cell"]), int(raw["repeat"]), int(raw["warmup"]))


class Terminated(BaseException):
    """SIGTERM from the driver (timeout, Ctrl-C): unwinds through measure() so teardown still runs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"terminated by signal {signum}")


def _private_stdout() -> TextIO:
    """Keep the real stdout for the record; point fd 1 at stderr for everyone else (workers inherit fd 1)."""
    sys.stdout.flush()
    record_out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return record_out


def main() -> int:
    request = ProbeRequest.from_json(sys.stdin.read())
    out = _private_stdout()
    signal.signal(signal.SIGTERM, _on_sigterm)
    from parbench.runner.affinity import pin

    pin(request.cell.workers)
    # Imported after pinning, so numpy's BLAS threads see the granted CPUs, not the whole machine.
    from parbench.runner.measure import measure

    try:
        record = measure(request.cell, request.repeat, request.warmup)
    except Terminated:
        print("probe: stopped by the driver (SIGTERM) after tearing the strategy down", file=sys.stderr)
        return 128 + signal.SIGTERM
    out.write(record.to_json() + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
