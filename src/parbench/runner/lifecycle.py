"""A run's lifecycle, in one place: plan it, start it (calibration, estimate, meta.json) or resume it, measure
its visits, finish it, and hand it to analysis and the report.

The CLI (`parbench sweep`), the Python API (`parbench.sweep`), the scripts and the benches all go through here;
what they add is how they talk to the user. Bad input is found before anything is written (UserError); an
interruption (Interrupted) keeps every finished cell and leaves a run that `resume` completes.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parbench.cpus import usable_cpus
from parbench.errors import RunFolderError, UserError
from parbench.interrupts import interruptible
from parbench.results.meta import Plan as PlanMeta
from parbench.results.meta import RunMeta
from parbench.results.schema import FAILED
from parbench.results.store import RunStore
from parbench.runner.estimate import Costs, estimate_cell, total_estimate
from parbench.runner.measure import now_iso
from parbench.runner.plan import Plan, PlannedCell, make_plan
from parbench.runner.spec import SweepSpec, spec_from_dict
from parbench.runner.sweep import Limits, Observer, run_sweep
from parbench.version import __version__

if TYPE_CHECKING:
    import pandas as pd

    from parbench.analysis.trust import Trust
    from parbench.report.model import Report


@dataclass(frozen=True)
class Planned:
    """A new run, planned and validated, nothing written yet: its spec, its visits and where it will go."""

    spec: SweepSpec
    plan: Plan
    store: RunStore

    @property
    def visits(self) -> tuple[PlannedCell, ...]:
        return self.plan.cells


@dataclass(frozen=True)
class Pending:
    """A run on disk with visits left to measure (new or resumed)."""

    store: RunStore
    todo: tuple[PlannedCell, ...]
    limits: Limits
    estimates: Mapping[str, float]  # seconds per cell key
    done_before: int = 0  # visits a resumed run already had
    torn_kept: Path | None = None  # resume cut a half-written last record; the file as it was

    @property
    def estimate_s(self) -> float:
        return total_estimate(self.todo, self.estimates)


@dataclass(frozen=True)
class Conclusion:
    """A measured run, analysed: its summary, the trust line, the report model (None when the analysis failed)
    and where report.html went (or why it was not written)."""

    path: Path
    summary: pd.DataFrame
    trust: Trust
    report: Report | None
    report_path: Path | None
    report_error: str | None

    @property
    def statuses(self) -> Counter[str]:
        return Counter(self.summary["status"]) if not self.summary.empty else Counter()

    @property
    def failed(self) -> bool:
        """A cell ran and failed (WRONG, CRASHED, TIMEOUT, ERROR): exit status 1 of the CLI."""
        return any(self.statuses[s] for s in FAILED)


def limits_of(spec: SweepSpec) -> Limits:
    return Limits(spec.repeat, spec.warmup, spec.timeout, spec.isolation, spec.quiet_wait, spec.envs)


def estimates(cells: Sequence[PlannedCell], limits: Limits, calibration: Mapping[str, Any] | None) -> dict[str, float]:
    """Seconds per cell, from this machine's calibration when there is one."""
    costs = Costs.for_sweep(limits.isolation, calibration)
    cpus = len(usable_cpus())
    return {c.cell.key(): estimate_cell(c, limits.repeat, limits.warmup, cpus, costs) for c in cells}


def calibrated_estimates(spec: SweepSpec, cells: Sequence[PlannedCell]) -> tuple[dict[str, Any], dict[str, float]]:
    """Calibrate this machine (a second or so, as loaded as it is now) and estimate each cell from it."""
    from parbench.runner.calibrate import calibrate

    calibration = calibrate(spec.start_methods)
    return calibration, estimates(cells, limits_of(spec), calibration)


def new_store(results: Path, run_id: str | None) -> RunStore:
    """Where a new run goes: `run_id`, or the date and time (with -2, -3 ... when taken)."""
    if run_id is not None:
        return RunStore.check_new(results, run_id)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in ("", *(f"-{i}" for i in range(2, 100))):
        if not (results / f"{stamp}{suffix}").exists():
            return RunStore.check_new(results, stamp + suffix)
    raise RunFolderError(f"too many runs named {stamp}-* in {results}")


def plan_run(spec: SweepSpec, results: Path, run_id: str | None = None) -> Planned:
    """Plan a new run and check where it goes; writes nothing."""
    return Planned(spec, make_plan(spec), new_store(results, run_id))


def dry_run(spec: SweepSpec) -> tuple[Plan, dict[str, float]]:
    """The plan and each cell's estimate, from the same calibration a real run makes; nothing is written."""
    plan = make_plan(spec)
    return plan, calibrated_estimates(spec, plan.cells)[1]


def start(planned: Planned, command: Sequence[str] | None = None) -> Pending:
    """Calibrate, estimate, and create the run folder with its meta.json: the run exists from here on."""
    calibration, per_cell = calibrated_estimates(planned.spec, planned.visits)
    meta = RunMeta(run_id=planned.store.run_id, created=now_iso(), parbench=__version__,
                   command=tuple(sys.argv if command is None else command), spec=planned.spec.to_dict(),
                   plan=PlanMeta(tuple(c.to_dict() for c in planned.visits), planned.plan.notes,
                                 total_estimate(planned.visits, per_cell)),
                   environment=_environment(), calibration=calibration)
    planned.store.create(meta)
    return Pending(planned.store, planned.visits, limits_of(planned.spec), per_cell)


def _environment() -> dict[str, Any]:
    from parbench.results.environment import collect

    return collect()


def resume_store(given: str, results: Path | None, default: Path) -> RunStore:
    """The run to resume: an id in the results folder (`results`, else `default`) or a run folder's path."""
    if "/" not in given and os.sep not in given:
        return RunStore.existing(results if results is not None else default, given)
    path = Path(given)
    if results is not None and path.parent.resolve() != results.resolve():
        raise RunFolderError(f"--resume {given} is not in --results {results}: give one of them")
    return RunStore.existing(path.parent, path.name)


def resume(store: RunStore, command: Sequence[str] | None = None) -> Pending:
    """The visits an interrupted run is missing, measured with its own spec. Everything is validated before the
    run is changed: a run that cannot be resumed is a UserError and stays as it was."""
    meta = store.checked_meta()
    try:
        cells = [PlannedCell.from_dict(dict(c)) for c in meta.plan.cells]
        limits = limits_of(spec_from_dict(meta.spec))
    except (KeyError, TypeError, ValueError) as exc:
        raise RunFolderError(f"--resume: {store.path}/meta.json has no usable plan ({exc!r})") from None
    done = {(r.cell.key(), r.visit) for r in store.checked_records()}
    kept = store.drop_torn_tail()
    todo = tuple(c for c in cells if c.visit_key() not in done)
    store.write_meta(meta.resumed(now_iso(), sys.argv if command is None else command, len(todo)))
    return Pending(store, todo, limits, estimates(todo, limits, meta.calibration), len(cells) - len(todo), kept)


def measure(pending: Pending, observer: Observer) -> int:
    """Measure the pending visits, each record appended as it ends, then mark the run finished; returns how many
    visits were measured again because the machine ran slow or shared. SIGINT and SIGTERM raise Interrupted
    (parbench.interrupts) with the finished cells on disk."""
    remeasured = _Remeasured(observer)
    t0 = time.monotonic()
    canary = pending.store.meta().calibration.get("canary_ns")
    with interruptible():
        run_sweep(pending.todo, pending.store, pending.limits, remeasured, canary)
    meta = pending.store.meta()
    pending.store.write_meta(meta.ended(now_iso(), time.monotonic() - t0, remeasured.count))
    return remeasured.count


class _Remeasured:
    """Passes the sweep's news on to `observer`, counting the visits put back for later."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.count = 0

    def cell_started(self, planned: PlannedCell) -> None:
        self.observer.cell_started(planned)

    def cell_finished(self, planned: PlannedCell, record: Any) -> None:
        self.observer.cell_finished(planned, record)

    def cell_postponed(self, planned: PlannedCell, why: str) -> None:
        self.count += 1
        self.observer.cell_postponed(planned, why)


def conclude(path: Path, write_report: bool = True) -> Conclusion:
    """Analyse the whole run (resumed parts included) once, and write RUN/report.html from that analysis. The
    measurements are safe on disk whatever the analysis or the report does: a failure of either is kept as a
    reason, never raised."""
    report = _analyse(path)
    summary, trust = (report.summary, report.trust) if report is not None else _summary_alone(path)
    conclusion = Conclusion(path, summary, trust, report, None, None)
    if not write_report:
        return conclusion
    try:
        from parbench.report.output import write_html

        return replace(conclusion, report_path=write_html(path, report))
    except Exception as exc:
        why = str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        return replace(conclusion, report_error=why)


def _analyse(path: Path) -> Report | None:
    from parbench.report.model import build
    from parbench.results.reader import open_run

    try:
        return build(open_run(path))
    except Exception:  # the tables then summarize the records alone; the report step says what went wrong
        return None


def _summary_alone(path: Path) -> tuple[pd.DataFrame, Trust]:
    from parbench.analysis.stats import summarize
    from parbench.analysis.trust import assess
    from parbench.results.store import load

    frame = load(path)
    summary = summarize(frame)
    return summary, assess(summary, frame)
