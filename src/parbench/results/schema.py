"""The record format: what measuring one cell produced. Frozen dataclasses, JSON in and out.

SCHEMA_VERSION history (bump on any change a reader must know about; say how to migrate):
  1 - first format (parbench 0.1.0). Grown before any release, all optional with defaults, so no reader
      breaks: Sample.peak_rss (per repeat), Record.family, Record.probe_wall_ns (set by the sweep driver),
      Record.visit (a sweep with --rounds N measures each cell in N visits spread over the run: one record each),
      Record.canary_ns and Record.slowdown (how fast the machine ran during the visit; see runner.canary).
  2 - paired measurement (DESIGN 5b). Record.reference: the `sequential` reference at the same workload point,
      run in the same probe on the same CPUs, one sample per repeat of the cell (same index), interleaved with
      them in a random order (Sample.first: this side ran first in its pair). Sample.foreign_ns: CPU time
      others took on the granted CPUs during the timed window (runner.neighbours). Record.cpu_bound and
      Record.superlinear: the workload's word on which physical checks apply. Record.quiet_wait_s: how long
      the driver waited for idle CPUs before the visit (--quiet-wait). Record.contaminated: the visit's timed
      repeats whose foreign share passed FOREIGN_SHARE (below).
      Migration from 1: every new field takes its default (no reference: speedups of a version-1 run are
      unpaired, and say so); `migrate()` does it on read.
  3 - the interpreter as an axis. Cell.python (the interpreter asked for: a version like "3.13" or a path) and
      Cell.gil ("on"/"off": PYTHON_GIL for a free-threaded build), both left out of to_dict() and key() when
      None (the running interpreter), so cells of older runs keep their keys. Record.interpreter: what the probe
      ran under (path, version, implementation, free_threaded build, gil_start/gil_end: sys._is_gil_enabled()
      at the start and the end of the cell; see results.interpreter). Migration from 2: the defaults (None).
      Also in 3: Sample.result and Record.expected hold any JSON value, not only an int. A function workload's
      (parbench.function_workload; its cells' params carry `function`, the hash of the definition shipped in
      $PARBENCH_FUNCTIONS) result is recorded as its JSON value, or as its repr cut to 80 characters when it has
      none, and is `ok` when == the expected one or within the workload's rtol. Built-in and plugin workloads
      still record exact ints. Migration: none (older records hold ints, JSON values); readers must not assume
      an int.

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

SCHEMA_VERSION = 3
# The versions a reader can migrate forward (see the history above).
READABLE_VERSIONS = (1, 2, 3)

Status = Literal["OK", "WRONG", "TIMEOUT", "CRASHED", "ERROR", "UNAVAILABLE"]
STATUSES: tuple[str, ...] = get_args(Status)
# The statuses of a cell that ran and failed: a finding (exit 1, listed in every report). UNAVAILABLE is not
# one: the strategy could not run here at all.
FAILED: tuple[str, ...] = tuple(s for s in STATUSES if s not in ("OK", "UNAVAILABLE"))
# A record whose slowdown is above this was measured while the machine ran slower than its best (another
# tenant, throttling): the sweep measures such a visit again, and statistics prefer a cell's other visits.
SLOW_MACHINE = 1.25
# A timed repeat is contaminated when other tenants took more than this share of the CPU time its CPUs could
# give during it (runner.neighbours measures it; analysis leaves such repeats out of paired speedups).
FOREIGN_SHARE = 0.10

# The status of a cell measured in several visits is its worst visit's: a wrong answer is the finding.
SEVERITY: dict[str, int] = {"WRONG": 5, "CRASHED": 4, "TIMEOUT": 3, "ERROR": 2, "UNAVAILABLE": 1, "OK": 0}


def worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: SEVERITY.get(s, 0))


@dataclass(frozen=True)
class Cell:
    """One point of a sweep: workload + its parameters, strategy + its options, workers, start method, and the
    interpreter (None: the running one) with its GIL setting (free-threaded builds only)."""

    workload: str
    params: Mapping[str, Any]
    strategy: str
    workers: int
    start_method: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    python: str | None = None
    gil: str | None = None

    def key(self) -> str:
        """A canonical string identifying the cell (resume and compare match on it)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def label(self) -> str:
        params = " ".join(f"{k}={_short(v)}" for k, v in self.params.items())
        opts = "".join(f" {k}={v}" for k, v in self.options.items() if v not in ("", None))  # unset: noise
        how = f" {self.start_method}" if self.start_method else ""
        where = (f" py{self.python}" if self.python else "") + (f" gil={self.gil}" if self.gil else "")
        return f"{self.workload}[{params}] {self.strategy} x{self.workers}{how}{opts}{where}"

    def to_dict(self) -> dict[str, Any]:
        raw = {"workload": self.workload, "params": dict(self.params), "strategy": self.strategy,
               "workers": self.workers, "start_method": self.start_method, "options": dict(self.options)}
        # Only when set: the keys of cells measured under the running interpreter stay those of older runs.
        return raw | {k: v for k, v in (("python", self.python), ("gil", self.gil)) if v is not None}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Cell:
        return cls(raw["workload"], dict(raw["params"]), raw["strategy"], int(raw["workers"]),
                   raw.get("start_method"), dict(raw.get("options") or {}), raw.get("python"), raw.get("gil"))


def _short(value: Any) -> str:
    return fmt_count(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Sample:
    """One repeat (warmup or timed): wall and process-tree CPU time, phase times, result, exact or not."""

    index: int
    wall_ns: int
    cpu_ns: int
    phases: Mapping[str, int]
    # An int for the built-in workloads; a function workload's result as JSON (numbers, strings, lists) or,
    # when it is no JSON value (an array, an object), its repr cut to runner.measure.MAX_REPR characters.
    result: Any
    ok: bool
    warmup: bool = False
    peak_rss: int | None = None  # bytes: the largest resident set of the probe or any worker so far
    foreign_ns: int | None = None  # CPU time others took on the granted CPUs in the timed window (neighbours)
    first: bool | None = None  # in a paired cell: this side ran first in its pair (None: not paired)

    def disturbed(self, cpus: int) -> bool:
        return self.foreign_share(cpus) > FOREIGN_SHARE

    def foreign_share(self, cpus: int) -> float:
        """Foreign CPU time as a share of what the granted CPUs could give during the window (0 when unknown)."""
        if not self.foreign_ns or self.wall_ns <= 0:
            return 0.0
        return self.foreign_ns / (self.wall_ns * max(1, cpus))


@dataclass(frozen=True)
class Record:
    """Everything measuring one cell produced, or why it could not be measured."""

    cell: Cell
    status: Status
    expected: Any = None  # the exact answer, recorded like Sample.result; None when it could not be computed
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
    reference: tuple[Sample, ...] = ()  # sequential at the same point, paired with `samples` by index
    cpu_bound: bool | None = None  # the workload's kernel keeps a CPU busy (None: the workload did not say)
    superlinear: bool = False  # the workload says a speedup above the workers is physically possible
    quiet_wait_s: float | None = None  # how long the driver waited for quiet CPUs before this visit
    contaminated: int | None = None  # timed repeats (either side of a pair) disturbed by other tenants
    interpreter: Mapping[str, Any] | None = None  # what the probe ran under (results.interpreter.facts)
    schema_version: int = SCHEMA_VERSION

    @property
    def timed(self) -> list[Sample]:
        """The samples statistics use: warmups are checked for correctness but not timed."""
        return [s for s in self.samples if not s.warmup]

    @property
    def wrong(self) -> list[Sample]:
        return [s for s in (*self.samples, *self.reference) if not s.ok]

    @property
    def timed_reference(self) -> list[Sample]:
        return [s for s in self.reference if not s.warmup]

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["cell"] = self.cell.to_dict()
        return raw

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Record:
        raw = migrate(raw)
        status = raw["status"]
        if status not in STATUSES:
            raise ValueError(f"record has unknown status {status!r}")
        samples = tuple(Sample(**s) for s in raw.get("samples", ()))
        reference = tuple(Sample(**s) for s in raw.get("reference", ()))
        fields = {k: v for k, v in raw.items() if k not in ("cell", "samples", "cpus", "reference")}
        return cls(cell=Cell.from_dict(raw["cell"]), samples=samples, cpus=tuple(raw.get("cpus", ())),
                   reference=reference, **fields)


def migrate(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A record dict of any readable version as the current version (the history says what changed)."""
    version = raw.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ValueError(f"record has schema_version {version!r}; this parbench reads {READABLE_VERSIONS}")
    # 1 -> 2 -> 3: only fields with defaults were added, so the defaults are the migration (no reference: unpaired;
    # no interpreter facts: the run's own interpreter, described in its meta.json).
    return {**raw, "schema_version": SCHEMA_VERSION}
