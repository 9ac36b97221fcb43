"""Plain functions as workloads (parbench.function_workload): shipped to probes and workers, checked exactly or
within rtol, under fork, spawn and forkserver, from a module or from a script's __main__."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import parbench
from conftest import SWEEP_TIMEOUT, needs_a_sweep, run_cli
from parbench import registry
from parbench.errors import UserError
from parbench.results.schema import Record
from parbench.runner.cells import make_cell
from parbench.runner.measure import measure
from parbench.workloads.function import as_array, results_match

MYMOD = '''
import threading
import time


def slow_square(x):
    time.sleep(0.002)
    return x * x


def third(x):
    return x / 3


def make_inputs():
    return [0.5 * i for i in range(12)]


def one(x):
    return 1


def locks():
    return [threading.Lock()]
'''


@pytest.fixture(autouse=True)
def functions_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Shipped definitions go to the test's folder (probes and workers inherit the variable), not ~/.cache."""
    folder = tmp_path / "functions"
    monkeypatch.setenv("PARBENCH_FUNCTIONS", str(folder))
    yield folder


@pytest.fixture
def mymod(tmp_path: Path) -> Path:
    """A user's module in a folder of its own (the current directory of the CLI runs below)."""
    folder = tmp_path / "user"
    folder.mkdir()
    (folder / "mymod.py").write_text(MYMOD)
    return folder


def _square(x: int) -> int:
    return x * x


def _measure(workload: parbench.workloads.function.FunctionWorkload, strategy: str, workers: int = 2,
             start_method: str | None = None) -> Record:
    name = registry.register_workload(workload)
    return measure(make_cell(name, {}, strategy, workers, start_method), repeat=2, warmup=1)


def _drifting(scale: float) -> parbench.workloads.function.FunctionWorkload:
    """x/3, off by `scale` in any process but this one: the driver's answer is right, the workers' are not."""
    driver = os.getpid()

    def drift(x: int) -> float:
        return x / 3 * (1.0 if os.getpid() == driver else scale)

    return parbench.function_workload(drift, range(20), rtol=1e-9)


def test_the_answer_is_the_sequential_result_and_tasks_follow_chunksize() -> None:
    """The expected answer is fn over the inputs, combined; chunksize groups inputs into tasks; the only cell
    parameter is the hash of the shipped definition."""
    workload = parbench.function_workload(_square, range(10), chunksize=3)
    assert workload.expected() == 285
    assert [(t.lo, t.hi) for t in workload.tasks(2)] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert workload.kernel(workload.chunk(workload.make_input(), workload.tasks(2)[1]), workload.tasks(2)[1]) == 50
    assert list(workload.params()) == ["function"] and workload.name == "_square"
    assert registry.register_workload(workload) == "_square"
    assert registry.get_workload("_square").from_params({}) == workload


def test_results_match_exactly_or_within_rtol() -> None:
    """== without rtol; math.isclose for numbers and numpy.allclose for arrays with it; incomparable is no match."""
    assert results_match(0.1 + 0.2, 0.3, 1e-9) and not results_match(0.1 + 0.2, 0.3, None)
    assert not results_match(1.0, 1.0 + 1e-6, 1e-9)
    assert results_match(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]), 1e-9)
    assert not results_match(np.array([1, 2]), np.array([1, 3]), None)
    assert results_match({"a": [1, 2]}, {"a": [1, 2]}, None)
    assert not results_match(np.array([1, 2]), np.array([1, 2, 3]), None)


def test_int_inputs_travel_as_int64_and_others_as_objects() -> None:
    """Every strategy can move int64 inputs; tuples stay items of an object array."""
    assert as_array((1, 2, 3)).dtype == np.int64
    assert as_array((1, 2**70)).dtype == object
    pairs = as_array(((1, 2), (3, 4)))
    assert pairs.shape == (2,) and pairs.tolist() == [(1, 2), (3, 4)]


def test_a_function_that_cannot_be_shipped_is_one_clear_error() -> None:
    """A closure over a lock cannot be pickled for a worker: a UserError says so in one line."""
    lock = threading.Lock()

    def guarded(x: int) -> int:
        with lock:
            return x

    with pytest.raises(UserError, match=r"cannot ship function workload 'guarded' to worker processes") as info:
        parbench.function_workload(guarded, range(3))
    assert "\n" not in str(info.value)


def test_bad_arguments_are_user_errors() -> None:
    """A raising function, empty inputs, a bad rtol, a bad name and a built-in's name are UserErrors."""
    with pytest.raises(UserError, match="sequential run raised ZeroDivisionError"):
        parbench.function_workload(lambda x: 1 / x, range(3), name="inverse")
    with pytest.raises(UserError, match="inputs are empty"):
        parbench.function_workload(_square, [])
    with pytest.raises(UserError, match="rtol"):
        parbench.function_workload(_square, range(3), rtol=-1)
    with pytest.raises(UserError, match="pass name="):
        parbench.function_workload(lambda x: x, range(3))
    with pytest.raises(UserError, match="taken by a workload already"):
        registry.register_workload(parbench.function_workload(_square, range(3), name="array-sum"))


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_float_results_within_rtol_are_ok(method: str) -> None:
    """x/3 summed in pool workers matches the driver's answer within rtol=1e-9, under every start method."""
    record = _measure(parbench.function_workload(lambda x: x / 3, range(30), name="third", rtol=1e-9),
                      "pool-map", start_method=method)
    assert record.status == "OK", record.error
    assert math.isclose(record.expected, 145.0) and all(math.isclose(s.result, 145.0) for s in record.samples)


def test_the_api_runs_a_function_and_its_frame_keeps_floats() -> None:
    """parbench.run takes the workload object; the record's frame keeps float results as floats."""
    third = parbench.function_workload(lambda x: x / 3, range(30), name="third", rtol=1e-9)
    measured = parbench.run(third, "thread-pool", workers=2, repeat=2)
    assert measured.status == "OK"
    frame = measured.to_frame()
    assert frame["result"].dtype == float and frame["expected"].tolist() == [145.0, 145.0]


def test_a_wrong_float_result_is_caught_as_wrong() -> None:
    """Workers 1e-7 off: beyond rtol=1e-9, so WRONG with both values recorded; the in-process reference is OK."""
    record = _measure(_drifting(1 + 1e-7), "process-pool-executor", start_method="spawn")
    assert record.status == "WRONG"
    assert all(not s.ok for s in record.samples) and all(s.ok for s in record.reference)
    assert isinstance(record.samples[0].result, float) and record.samples[0].result != record.expected


def test_a_function_that_raises_in_a_worker_is_an_error_naming_it() -> None:
    """The function raising in a pool worker (not in the driver, which computed the answer) makes the cell ERROR,
    one line naming the function workload and the exception."""
    driver = os.getpid()

    def picky(x: int) -> int:
        if os.getpid() != driver:
            raise ValueError("not in the driver")
        return x

    record = _measure(parbench.function_workload(picky, range(4)), "pool-map")
    assert record.status == "ERROR"
    assert "function workload 'picky' raised ValueError: not in the driver" in (record.error or "")


def test_strategies_that_move_int64_are_unavailable_for_other_results() -> None:
    """shared-memory keeps partials in int64 slots: float results make it UNAVAILABLE, saying why; integer
    inputs and results run there exactly."""
    floats = _measure(parbench.function_workload(lambda x: x / 3, range(6), name="third"), "shared-memory")
    assert floats.status == "UNAVAILABLE" and "not integers" in (floats.error or "")
    ints = _measure(parbench.function_workload(_square, range(100)), "shared-memory")
    assert ints.status == "OK" and {s.result for s in ints.samples} == {328350}


def test_non_json_results_are_stored_as_a_short_repr() -> None:
    """An array result is compared with numpy and recorded as its repr; the record still writes as JSON."""
    workload = parbench.function_workload(lambda x: np.full(3, x, dtype=float), range(8), name="vec", rtol=1e-12)
    record = _measure(workload, "thread-pool")
    assert record.status == "OK"
    assert record.samples[0].result.startswith("array([28., 28., 28.])")
    assert json.loads(record.to_json())["expected"] == record.expected


SCRIPT = '''
import json, sys
import parbench
from parbench import cli, registry
from mymod import slow_square

def cube(x):  # defined in __main__: shipped by value
    return x ** 3

driver = __import__("os").getpid()

def drift(x):
    return x / 3 * (1.0 if __import__("os").getpid() == driver else 1 + 1e-7)

for w in (parbench.function_workload(cube, range(1, 101)), parbench.function_workload(slow_square, range(16)),
          parbench.function_workload(drift, range(20), rtol=1e-9)):
    registry.register_workload(w)
sys.exit(cli.main(["sweep", "--workloads", "cube,slow_square,drift,delayed-square", "--sizes", "delayed-square=4",
                   "--delay", "0", "--strategies", "sequential,pool-map",
                   "--workers", "2", "--start-methods", "fork,spawn,forkserver", "--rounds", "1", "--repeat", "1",
                   "--warmup", "0", "--seed", "1", "--results", sys.argv[1], "--run-id", "fn"]))
'''


@needs_a_sweep
def test_main_and_module_functions_run_in_a_sweep_under_every_start_method(mymod: Path, tmp_path: Path) -> None:
    """A script (its __main__ defines cube and drift; slow_square comes from a module next to it) sweeps them
    with isolated probes, beside a built-in workload: every cell exact under fork, spawn and forkserver, the
    drifting floats WRONG, and the report written (a function workload has no size to plot against)."""
    script = mymod / "script.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "results")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=SWEEP_TIMEOUT, check=False,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 1, proc.stderr  # the WRONG cells are a finding: exit 1
    lines = (tmp_path / "results" / "fn" / "records.jsonl").read_text().splitlines()
    records = [Record.from_dict(json.loads(line)) for line in lines]
    seen = {(r.cell.workload, r.cell.strategy, r.cell.start_method): r for r in records}
    for method in ("fork", "spawn", "forkserver"):
        assert seen["cube", "pool-map", method].status == "OK"
        assert {s.result for s in seen["cube", "pool-map", method].samples} == {25502500}
        assert seen["slow_square", "pool-map", method].samples[0].result == 1240
        assert seen["drift", "pool-map", method].status == "WRONG"
    assert seen["cube", "sequential", None].status == "OK"
    assert seen["delayed-square", "pool-map", "spawn"].samples[0].result == 14
    assert (tmp_path / "results" / "fn" / "report.html").exists(), proc.stderr


DONE_WHEN = '''
import sys
import parbench, mymod
w = parbench.function_workload(mymod.slow_square, range(16))
run = parbench.sweep(workloads=[w], strategies=["sequential", "thread-pool", "pool-map"], workers=[1, 2],
                     rounds=1, results=sys.argv[1], progress=False)
assert (run.summary["status"] == "OK").all() and len(run.summary) == 5, run.summary
assert "thread-pool" in run._repr_html_()
print(sorted({int(r) for r in run.frame["result"]}))
'''


@needs_a_sweep
def test_the_issue_example_sweeps_a_module_function(mymod: Path, tmp_path: Path) -> None:
    """The issue's example, from another directory than the module's: parbench.sweep(workloads=[w]) measures
    slow_square with sequential, thread-pool and pool-map at 1 and 2 workers, all OK, shown in a notebook."""
    script = tmp_path / "example.py"
    script.write_text(DONE_WHEN)
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "results")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=SWEEP_TIMEOUT, check=False,
                          env={**os.environ, "PYTHONPATH": str(mymod)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[1240]"


def test_cli_runs_a_module_function_with_rtol(mymod: Path) -> None:
    """`parbench run --function mymod:third --inputs mymod:make_inputs --rtol 1e-9` from the module's folder."""
    result = run_cli(["run", "--function", "mymod:third", "--inputs", "mymod:make_inputs", "--rtol", "1e-9",
                      "--strategy", "pool-map", "--workers", "2", "--start-method", "spawn", "--repeat", "1",
                      "--json"], cwd=mymod)
    assert result.rc == 0, result.err
    record = json.loads(result.out)
    assert record["cell"]["workload"] == "third" and math.isclose(record["expected"], 11.0)
    assert all(math.isclose(s["result"], 11.0) for s in record["samples"])


def test_cli_sweep_plans_a_function_over_items(mymod: Path) -> None:
    """`parbench sweep --function mymod:slow_square --items 16 --dry-run` plans the function's cells."""
    result = run_cli(["sweep", "--function", "mymod:slow_square", "--items", "16", "--strategies",
                      "sequential,pool-map", "--workers", "2", "--dry-run"], cwd=mymod)
    assert result.rc == 0, result.err
    assert "slow_square[function=" in result.out and "pool-map x2" in result.out


@pytest.mark.parametrize(("args", "message"), [
    (["--function", "nosuch:fn", "--items", "3"], "cannot import module 'nosuch'"),
    (["--function", "mymod:nothere", "--items", "3"], "has no 'nothere'"),
    (["--function", "mymod", "--items", "3"], "expected MODULE:NAME"),
    (["--function", "mymod:slow_square"], "needs its inputs"),
    (["--items", "3"], "--items goes with --function"),
    (["--function", "mymod:one", "--inputs", "mymod:locks"], "cannot ship function workload 'one'"),
])
def test_bad_function_references_are_one_line(mymod: Path, args: list[str], message: str) -> None:
    """Each bad --function/--inputs/--items is one line naming the problem, exit 2, no traceback."""
    result = run_cli(["run", *args], cwd=mymod)
    assert result.rc == 2, result.err
    assert result.err.count("\n") == 1 and message in result.err, result.err
