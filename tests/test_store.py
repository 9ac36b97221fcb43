"""Run folders: validation before anything is written, whole-line appends, torn tails, and the tidy load()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import parbench
from conftest import FIXTURE
from parbench.errors import UserError
from parbench.results.meta import RunMeta
from parbench.results.schema import SCHEMA_VERSION, Cell, Record, Sample
from parbench.results.store import RECORDS, RunStore, check_results_dir, read_lines


def _record(size: int = 10, strategy: str = "sequential", workers: int = 1, walls: tuple[int, ...] = (5, 6, 7),
            status: str = "OK") -> Record:
    cell = Cell("array-sum", {"size": size, "kernel": "python", "fill": "arange"}, strategy, workers)
    samples = tuple(Sample(i, w, w, {"compute": w}, 45, True) for i, w in enumerate(walls))
    return Record(cell, status, 45, samples, family="sequential")  # type: ignore[arg-type]  # tests are not typed


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody may write into, root included (chmod, and the immutable flag where root can set it)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    immutable = os.geteuid() == 0 and subprocess.run(["chattr", "+i", str(folder)], check=False,
                                                     capture_output=True).returncode == 0
    yield folder if os.geteuid() != 0 or immutable else Path("/proc/self/parbench-results")
    if immutable:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_a_results_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    """--results pointing at a file is a UserError."""
    path = tmp_path / "results"
    path.write_text("not a folder")
    with pytest.raises(UserError, match="is a file"):
        check_results_dir(path)


def test_an_unwritable_results_folder_is_refused(unwritable: Path) -> None:
    """A results folder that cannot be written (even by root) is a UserError."""
    with pytest.raises(UserError, match="cannot write"):
        check_results_dir(unwritable / "runs")


def test_a_new_run_must_not_exist_yet_and_check_new_writes_nothing(tmp_path: Path) -> None:
    """check_new refuses an existing run id and creates nothing for a fresh one."""
    (tmp_path / "taken").mkdir()
    with pytest.raises(UserError, match="already exists"):
        RunStore.check_new(tmp_path, "taken")
    RunStore.check_new(tmp_path / "new", "fresh")
    assert not (tmp_path / "new").exists()


def test_resuming_a_missing_run_is_refused(tmp_path: Path) -> None:
    """--resume of a run id with no meta.json is a UserError."""
    with pytest.raises(UserError, match="no run 'ghost'"):
        RunStore.existing(tmp_path, "ghost")


def test_appended_records_are_whole_lines_that_read_back(tmp_path: Path) -> None:
    """Each append adds one newline-terminated JSON line; records() returns equal records."""
    store = RunStore(tmp_path / "run")
    store.create(RunMeta(run_id="run"))
    first, second = _record(10), _record(20)
    store.append(first)
    store.append(second)
    text = (store.path / RECORDS).read_text()
    assert text.count("\n") == 2 and text.endswith("\n")
    assert store.records() == [first, second]
    assert store.meta().schema_version == SCHEMA_VERSION


def test_a_torn_last_line_is_ignored_then_cut_before_appending(tmp_path: Path) -> None:
    """A half-written last line (driver killed mid-write) is skipped by readers and cut by drop_torn_tail."""
    store = RunStore(tmp_path / "run")
    store.create(RunMeta(run_id="run"))
    store.append(_record(10))
    with (store.path / RECORDS).open("a") as f:
        f.write('{"cell": {"workload": "arr')
    assert len(read_lines(store.path / RECORDS)) == 1
    assert store.drop_torn_tail()
    store.append(_record(20))
    assert [r.cell.params["size"] for r in store.records()] == [10, 20]


def test_a_corrupt_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    """Garbage before the last line is not silently dropped."""
    path = tmp_path / RECORDS
    path.write_text('{"a": 1}\nnot json\n{"b": 2}\n')
    with pytest.raises(ValueError, match=":2:"):
        read_lines(path)


def test_load_gives_one_row_per_timed_repeat_with_tidy_columns() -> None:
    """parbench.load on the committed fixture: one row per timed repeat, the documented columns."""
    df = parbench.load(FIXTURE)
    records = [json.loads(line) for line in (FIXTURE / RECORDS).read_text().splitlines()]
    timed = sum(max(1, sum(not s["warmup"] for s in r["samples"])) for r in records)
    assert len(df) == timed
    for column in ("run_id", "key", "workload", "strategy", "family", "workers", "start_method", "size", "kernel",
                   "delay", "option_chunksize", "status", "repeat", "wall_ns", "cpu_ns", "phase_compute_ns",
                   "result", "expected", "ok", "peak_rss", "setup_ns", "teardown_ns", "cpus_granted"):
        assert column in df.columns, column
    assert set(df["run_id"]) == {"small"}
    assert df.loc[df["status"] == "OK", "ok"].all()


def test_load_accepts_the_records_file_itself() -> None:
    """load() takes the run folder or its records.jsonl alike."""
    assert len(parbench.load(FIXTURE / RECORDS)) == len(parbench.load(FIXTURE))


def test_importing_parbench_does_not_import_pandas() -> None:
    """load and summarize are lazy: `import parbench` stays cheap."""
    out = subprocess.run([sys.executable, "-c", "import sys, parbench; print('pandas' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_tidy_order_keeps_a_column_it_does_not_know() -> None:
    """A column added to a record later (and not yet placed in the order) reaches the frame, at the end."""
    from parbench.results.tidy import _order

    ordered = _order(["status", "wall_ns", "new_measure", "size"], ["size"])
    assert ordered[-1] == "new_measure" and ordered.index("size") < ordered.index("status")
