"""The interpreter axis for real: a sweep under this interpreter and Python 3.13 (its environment built once per
machine by the py313_envs fixture), the subinterpreters strategy measured under 3.13, and the report's GIL story."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

from conftest import OTHER_PYTHON, run_cli
from parbench.report.markdown import render
from parbench.report.model import build
from parbench.results.reader import open_run
from parbench.results.schema import Record
from parbench.runner.environments import resolve

RUNNING = ".".join(platform.python_version_tuple()[:2])
# Subinterpreters with their own GIL need 3.13+: under the other interpreter they are measured, under this one
# (3.11 or 3.12) recorded UNAVAILABLE; CI's 3.13 leg measures them under the running interpreter instead.
MEASURED = {python: tuple(map(int, python.split("."))) >= (3, 13) for python in (RUNNING, OTHER_PYTHON)}
STRATEGIES = ("sequential", "threads", "subinterpreters", "pool-map")
SIZE = 20_000
EXPECTED = SIZE * (SIZE - 1) // 2
# One xdist worker builds the 3.13 environment (conftest.py313_envs) and runs every test that uses it.
pytestmark = [pytest.mark.timeout(400), pytest.mark.xdist_group("py313")]


@pytest.fixture(scope="module")
def gil_run(py313_envs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's sweep at a small size: both interpreters, every strategy at 1 and 2 workers."""
    results = tmp_path_factory.mktemp("gil")
    result = run_cli(["sweep", "--pythons", f"{RUNNING},{OTHER_PYTHON}", "--workloads", "array-sum", "--sizes",
                      str(SIZE), "--kernels", "python", "--strategies", ",".join(STRATEGIES), "--workers", "1,2",
                      "--repeat", "2", "--warmup", "0", "--envs", str(py313_envs), "--results", str(results),
                      "--run-id", "gil", "--seed", "3"], timeout=360)
    assert result.rc == 0, result.err
    return results / "gil"


def _records(run: Path) -> list[Record]:
    return [Record.from_dict(json.loads(line)) for line in (run / "records.jsonl").read_text().splitlines()]


def test_cells_for_both_interpreters_with_exact_results(gil_run: Path) -> None:
    """Every strategy x workers under each interpreter; every result exact; subinterpreters only under 3.13."""
    records = _records(gil_run)
    cells = {(r.cell.python, r.cell.strategy, r.cell.workers): r for r in records}
    wanted = {(p, s, w) for p in (RUNNING, OTHER_PYTHON) for s in STRATEGIES for w in (1, 2)
              if (s, w) != ("sequential", 2)}
    assert set(cells) == wanted
    for (python, strategy, _), record in cells.items():
        if strategy == "subinterpreters" and not MEASURED[python]:
            assert record.status == "UNAVAILABLE"
            version = (record.interpreter or {})["version"]
            assert record.error == (f"Python {version} has no interpreters with their own GIL to "
                                    "drive (3.13+: the _interpreters module; 3.12's cannot share a buffer with one)")
            continue
        assert record.status == "OK", (record.cell.label(), record.error)
        assert [s.result for s in (*record.samples, *record.reference)] == [EXPECTED] * (
            len(record.samples) + len(record.reference))


def test_each_record_carries_its_interpreter_facts(gil_run: Path) -> None:
    """Path, version, implementation, build and the GIL at the start and end, as the probe saw them."""
    other = resolve(OTHER_PYTHON)
    for record in _records(gil_run):
        facts = dict(record.interpreter or {})
        version = platform.python_version() if record.cell.python == RUNNING else other.version
        assert facts.pop("path").endswith("/bin/python" if record.cell.python == OTHER_PYTHON else "")
        assert facts == {"version": version, "implementation": "cpython", "free_threaded": False,
                         "gil_start": True, "gil_end": True}


def test_subinterpreters_record_their_start_and_own_gil(gil_run: Path) -> None:
    """Under 3.13 each worker's interpreter was created (its start time recorded) with a GIL of its own."""
    for record in _records(gil_run):
        if record.cell.strategy == "subinterpreters" and record.status == "OK":
            starts = record.extra["interpreter_start_ns"]
            assert len(starts) == record.cell.workers and all(ns > 0 for ns in starts)
            assert record.family == "interpreters"


def test_report_sets_interpreters_side_by_side(gil_run: Path) -> None:
    """The GIL story: one column per interpreter, the strategies as rows, the verdicts computed from the run."""
    report = build(open_run(gil_run))
    (story,) = report.gil_story
    versions = sorted([(RUNNING, platform.python_version()), (OTHER_PYTHON, resolve(OTHER_PYTHON).version)])
    assert story.interpreters == tuple(v for _, v in versions)
    rows = dict(story.rows)
    assert set(rows) == {"sequential time (x running)", "threads x2", "subinterpreters x2", "pool-map x2"}
    # Measured under 3.13 (a speedup, or SUSPECT when another tenant spoilt it: timings are not asserted here).
    assert [text != "n/a" for text in rows["subinterpreters x2"]] == [MEASURED[p] for p, _ in versions]
    assert rows["sequential time (x running)"][[p for p, _ in versions].index(RUNNING)].endswith("(1.00x)")
    assert any(v.startswith("subinterpreters start in ") and v.endswith("for a forked process (start + join, "
                                                                        "calibration).") for v in story.verdicts)
    header = f"| strategy | Python {versions[0][1]} | Python {versions[1][1]} |"
    assert header in render(report)
    assert "Beyond the GIL: interpreters side by side" in (gil_run / "report.html").read_text()


@pytest.mark.parametrize("workload", [["--size", "10001"], ["-w", "delayed-square", "--size", "5", "--delay", "0.001"]])
def test_run_under_313_subinterpreters_is_exact(py313_envs: Path, workload: list[str]) -> None:
    """`run --python 3.13 -s subinterpreters` at 3 workers (uneven split) gives the exact answer every repeat."""
    result = run_cli(["run", "--python", "3.13", "--envs", str(py313_envs), "-s", "subinterpreters", "-n", "3",
                      "--repeat", "2", "--json", *workload])
    assert result.rc == 0, result.err
    record = Record.from_dict(json.loads(result.out))
    assert record.status == "OK" and record.interpreter and record.interpreter["version"].startswith("3.13.")
    assert record.cell.python == "3.13"
    assert [s.result for s in record.samples] == [record.expected] * 3  # the warmup and two timed repeats


def test_numpy_kernel_cannot_run_in_subinterpreters(py313_envs: Path) -> None:
    """numpy cannot load in an interpreter with its own GIL: the numpy kernel is refused with that reason."""
    result = run_cli(["run", "--python", "3.13", "--envs", str(py313_envs), "-s", "subinterpreters", "-n", "2",
                      "--kernel", "numpy", "--json"])
    assert result.rc == 2 and result.err.count("\n") == 1
    assert result.err == ("parbench: error: subinterpreters cannot run here: numpy cannot load in a subinterpreter "
                          "with its own GIL (its extension module does not support several interpreters): only kernels "
                          "in plain Python (array-sum's python kernel, delayed-square) run under subinterpreters\n")
