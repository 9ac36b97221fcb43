"""The library layer and the Python API: parbench.run / sweep / open_run / Run, the typed meta.json, errors as
UserError subclasses, and strategy facts that price a cell without a list in the estimator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import ClassVar

import pytest

import parbench
from conftest import FIXTURE
from parbench import registry
from parbench.results.meta import MetaError, RunMeta
from parbench.results.schema import Cell
from parbench.runner.estimate import Costs, estimate_cell
from parbench.runner.plan import PlannedCell
from parbench.strategies.pipe import ProcessPipe
from parbench.strategies.shared import SharedMemoryStrategy


class PipeTwin(ProcessPipe):
    """A test-only built-in: process-pipe's facts under another name."""

    name: ClassVar[str] = "pipe-twin"


class InPlaceTwin(ProcessPipe):
    """process-pipe's class, but declaring that its input is read in place (shared-memory's fact)."""

    name: ClassVar[str] = "in-place-twin"
    input_travel = SharedMemoryStrategy.input_travel


def _estimate(strategy: str, family: str = "processes", method: str = "spawn") -> float:
    cell = Cell("array-sum", {"size": 1_000_000, "kernel": "numpy", "fill": "arange"}, strategy, 2, method)
    return estimate_cell(PlannedCell(cell, family), 5, 1, 2, Costs())


def test_a_new_builtin_strategy_is_priced_from_its_class_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A strategy registered in a test (no edit to runner/estimate.py) gets the estimate its facts call for:
    process-pipe's facts give process-pipe's estimate; declaring in-place input drops the copy cost."""
    monkeypatch.setitem(registry.BUILTIN_STRATEGIES, "pipe-twin", f"{__name__}:PipeTwin")
    monkeypatch.setitem(registry.BUILTIN_STRATEGIES, "in-place-twin", f"{__name__}:InPlaceTwin")
    assert _estimate("pipe-twin") == pytest.approx(_estimate("process-pipe"))
    copy_s = 8_000_000 / Costs().copy_bytes_per_s
    assert _estimate("pipe-twin") - _estimate("in-place-twin") == pytest.approx(6 * copy_s)  # 5 repeats + warmup


def test_run_meta_round_trips_and_refuses_what_it_cannot_read() -> None:
    """meta.json reads into RunMeta and writes back the same; a resume and an end land on the right part; an
    unknown schema version or a wrong type is a MetaError naming it."""
    raw = json.loads((FIXTURE / "meta.json").read_text())
    meta = RunMeta.from_dict(raw)
    assert RunMeta.from_dict(meta.to_dict()) == meta and meta.plan.cells and meta.calibration
    resumed = meta.resumed("now", ["parbench", "sweep"], 3).ended("later", 12.3456, 2)
    assert resumed.resumes[-1].elapsed_s == 12.346 and resumed.resumes[-1].remeasured_visits == 2
    assert resumed.elapsed_s == meta.elapsed_s and resumed.finished == "later"
    with pytest.raises(MetaError, match="schema_version 99"):
        RunMeta.from_dict({**raw, "schema_version": 99})
    with pytest.raises(MetaError, match="spec is list"):
        RunMeta.from_dict({**raw, "spec": []})


def test_run_measures_one_cell_exactly() -> None:
    """parbench.run: the record of a real cell, every repeat exact and paired with sequential, as a frame."""
    record = parbench.run("array-sum", "shared-memory", workers=2, size=10**5, repeat=3)
    assert record.status == "OK" and record.expected == 99999 * 100000 // 2
    assert all(s.ok and s.result == record.expected for s in record.samples)
    assert len(record.timed_reference) == 3
    assert len(record.to_frame()) == 3


def test_api_errors_are_user_errors_with_the_cli_message() -> None:
    """Bad input raises the UserError subclass whose message the CLI prints for the same mistake."""
    with pytest.raises(parbench.UnknownName, match="unknown strategy 'nope'"):
        parbench.run("array-sum", "nope")
    with pytest.raises(parbench.BadValue, match="size"):
        parbench.run("array-sum", "sequential", size="many")
    with pytest.raises(parbench.BadSpec, match="unknown argument"):
        parbench.sweep(colour="blue")
    with pytest.raises(parbench.RunFolderError, match="not a parbench run"):
        parbench.open_run(FIXTURE.parent)
    assert issubclass(parbench.CannotRunHere, parbench.UserError)


def test_sweep_returns_a_run_that_reports_compares_and_shows_itself(tmp_path: Path) -> None:
    """parbench.sweep: a finished run folder (meta, records, report.html), its summary OK cell by cell, verdicts,
    a Markdown report, a comparison with itself (nothing regressed) and the notebook view with the winners."""
    run = parbench.sweep(workloads=["delayed-square"], strategies=["sequential", "thread-pool"], workers=[1, 2],
                         sizes=[8], delay=0.001, repeat=3, rounds=1, results=tmp_path, progress=False)
    assert (run.summary["status"] == "OK").all() and len(run.summary) == 3
    assert (run.path / "report.html").is_file() and run.meta.finished and run.meta.run_id == run.path.name
    assert run.verdicts and run.verdicts[0].workload == "delayed-square"
    assert run.report(format="md").read_text().startswith("#")
    compared = parbench.open_run(run.path).compare(run)
    assert set(compared["verdict"]) <= {"unchanged", "not compared"} and len(compared) == 3
    shown = run._repr_html_()
    assert "thread-pool" in shown and "<svg" in shown and "Trust:" in shown


def test_open_run_reads_a_committed_run(tmp_path: Path) -> None:
    """open_run on a copy of the quick fixture: the same frame as parbench.load, a summary, typed meta."""
    shutil.copytree(FIXTURE, tmp_path / "quick")
    run = parbench.open_run(tmp_path / "quick" / "records.jsonl")
    assert len(run.frame) == len(parbench.load(tmp_path / "quick"))
    assert isinstance(run.meta, RunMeta) and run.meta.spec["preset"]
    assert set(run.summary["status"]) <= {"OK", "WRONG", "SUSPECT", "UNAVAILABLE"}
