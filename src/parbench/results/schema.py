"""The record format: what measuring one cell produced. Frozen dataclasses, JSON in and out.

SCHEMA_VERSION history (bump on any change a reader must know about; say how to migrate):
  1 - first format (parbench 0.1.0). Grown before any release, all optional with defaults, so no reader
      breaks: Sample.peak_rss (per repeat), Record.family, Record.probe_wall_ns (set by the sweep driver),
      Record.visit (a sweep with --rounds N measures each cell in N visits spread over the run: one record each),
      Record.canary_ns and Record.slowdown (how fast the machine ran during the visit; see runner.canary).

Status: OK (every result exact), WRONG (a result differed from the expected one), TIMEOUT (the sweep driver
killed the probe at --timeout), CRASHED (the probe or one of its workers died: killed, or exited without a
word), ERROR (a worker raised), UNAVAILABLE (the strategy cannot run here; the reason is the error).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, get_args

from parbench.units import fmt_count

SCHEMA_VERSION = 1

Status = Literal["OK", "WRONG", "TIMEOUT", "CRASHED", "ERROR", "UNAVAILABLE"]
STATUSES: tuple[str, ...] = get_args(Status)
# The statuses of a cell that ran and failed: a finding (exit 1, listed in every report). UNAVAILABLE is not
# one: the strategy could not run here at all.
FAILED: tuple[str, ...] = tuple(s for s in STATUSES if s not in ("OK", "UNAVAILABLE"))
# A record whose slowdown is above this was measured while the machine ran slower than its best (another
# tenant, throttling): the sweep measures such a visit again, and statistics prefer a cell's other visits.
SLOW_MACHINE = 1.25

# The status of a cell measured in several visits is its worst visit's: a wrong answer is the finding.
SEVERITY: dict[str, int] = {"WRONG": 5, "CRASHED": 4, "TIMEOUT": 3, "ERROR": 2, "UNAVAILABLE": 1, "OK": 0}


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: SEVERITY.get(s, 0))


@dataclass(frozen=True)
class Cell:
    """One point of a sweep: workload + its parameters, strategy + its options, workers, start method."""

    workload: str
    params: Mapping[str, Any]
    strategy: str
    workers: int
    start_method: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def key(self) -> str:
        """A canonical string identifying the cell (resume and compare match on it)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def label(self) -> str:
        params = " ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        opts = "".join(f" {k}={v}" for k, v in self.options.items() if v not in ("", None))  # unset: noise
        how = f" {self.start_method}" if self.start_method else ""
        return f"{self.workload}[{params}] {self.strategy} x{self.workers}{how}{opts}"

    def to_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "params": dict(self.params), "strategy": self.strategy,
                "workers": self.workers, "start_method": self.start_method, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Cell:
        return cls(raw["workload"], dict(raw["params"]), raw["strategy"], int(raw["workers"]),
                   raw.get("start_method"), dict(raw.get("options") or {}))


def _short(value: Any) -> str:
    return fmt_count(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Sample:
    """One repeat (warmup or timed): wall and process-tree CPU time, phase times, result, exact or not."""

    index: int
    wall_ns: int
    cpu_ns: int
    phases: Mapping[str, int]
    result: int
    ok: bool
    warmup: bool = False
    peak_rss: int | None = None  # bytes: the largest resident set of the probe or any worker so far


@dataclass(frozen=True)
class Record:
    """Everything measuring one cell produced, or why it could not be measured."""

    cell: Cell
    status: Status
    expected: int | None = None
    samples: tuple[Sample, ...] = ()
    warmup: int = 0
    setup_ns: int | None = None
    teardown_ns: int | None = None
    cpus: tuple[int, ...] = ()
    peak_rss: int | None = None
    peak_rss_children: int | None = None
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    started: str = ""
    family: str | None = None
    probe_wall_ns: int | None = None  # the probe process's whole life, start-up included, seen by the driver
    visit: int = 0  # which of the cell's visits (sweep rounds) this record is
    canary_ns: int | None = None  # runner.canary on the probe's CPUs, the slower of before and after the cell
    slowdown: float | None = None  # canary / the run's fastest canary when the driver kept this record
    schema_version: int = SCHEMA_VERSION

    @property
    def timed(self) -> list[Sample]:
        """The samples statistics use: warmups are checked for correctness but not timed."""
        return [s for s in self.samples if not s.warmup]

    @property
    def wrong(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["cell"] = self.cell.to_dict()
        return raw

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Record:
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ValueError(f"record has schema_version {version!r}; this parbench reads {SCHEMA_VERSION}")
        status = raw["status"]
        if status not in STATUSES:
            raise ValueError(f"record has unknown status {status!r}")
        samples = tuple(Sample(**s) for s in raw.get("samples", ()))
        fields = {k: v for k, v in raw.items() if k not in ("cell", "samples", "cpus")}
        return cls(cell=Cell.from_dict(raw["cell"]), samples=samples, cpus=tuple(raw.get("cpus", ())), **fields)
