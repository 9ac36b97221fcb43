"""`parbench sweep` and `parbench info` from the command line: bad input, dry runs, a real small sweep."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import parbench
from conftest import run_cli
from parbench.results.schema import SCHEMA_VERSION


@pytest.fixture
def results(tmp_path: Path) -> Path:
    return tmp_path / "results"


def _bad_inputs(tmp_path: Path, results: Path) -> dict[str, list[str]]:
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("repeat = 3\nworkrs = [1]\n")
    malformed = tmp_path / "malformed.toml"
    malformed.write_text("[params.array-sum\nsize = 1\n")
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    return {
        "unknown TOML key": ["--config", str(unknown), "--results", str(results)],
        "malformed TOML": ["--config", str(malformed), "--results", str(results)],
        "sizes abc": ["--sizes", "abc", "--results", str(results)],
        "workers 0": ["--workers", "0", "--results", str(results)],
        "results is a file": ["--preset", "quick", "--results", str(a_file)],
        "results not writable": ["--preset", "quick", "--results", "/proc/self/parbench-results"],
        "resume of a missing run": ["--resume", "nope", "--results", str(results)],
        "unknown strategy": ["--strategies", "threadz", "--results", str(results)],
        "repeat 0": ["--repeat", "0", "--results", str(results)],
        "unknown preset": ["--preset", "quik", "--results", str(results)],
    }


@pytest.mark.parametrize("case", ["unknown TOML key", "malformed TOML", "sizes abc", "workers 0", "results is a file",
                                  "results not writable", "resume of a missing run", "unknown strategy", "repeat 0",
                                  "unknown preset"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path: Path, results: Path, case: str) -> None:
    """Each kind of bad input: one line on stderr, exit code 2, no run folder created."""
    args = _bad_inputs(tmp_path, results)[case]
    before = sorted(tmp_path.rglob("*"))
    result = run_cli(["sweep", *args])
    assert result.rc == 2, result.err
    assert result.err.count("\n") == 1 and result.err.startswith("parbench: error: ")
    assert result.out == ""
    assert sorted(tmp_path.rglob("*")) == before
    assert not results.exists()


def test_bad_toml_error_names_the_key(tmp_path: Path) -> None:
    """The error for an unknown TOML key says which key and which file."""
    config = tmp_path / "sweep.toml"
    config.write_text("[params.delayed-square]\ndelai = 0.1\n")
    result = run_cli(["sweep", "--config", str(config), "--results", str(tmp_path / "r")])
    assert result.rc == 2
    assert "delai" in result.err and "sweep.toml" in result.err and "did you mean 'delay'" in result.err


def test_dry_run_prints_every_planned_cell_and_an_estimate_and_writes_nothing(results: Path) -> None:
    """--dry-run lists each cell with its estimate, notes skipped names, and measures nothing."""
    result = run_cli(["sweep", "--dry-run", "--rounds", "2", "--results", str(results), "--seed", "3"])
    assert result.rc == 0, result.err
    lines = result.out.splitlines()
    # "232 cells x 2 rounds = 464 visits (8 sequential baselines), ...": every visit is listed.
    summary = re.match(r"(\d+) cells x (\d+) rounds = (\d+) visits", lines[-1])
    assert summary is not None, lines[-1]
    cells, rounds, visits = map(int, summary.groups())
    assert "estimated" in lines[-1] and "seed 3" in lines[-1]
    assert cells > 100 and visits == cells * rounds  # the default preset: every strategy, sizes and widths
    assert sum("array-sum[" in line or "delayed-square[" in line for line in lines) == visits
    assert not results.exists()


def test_resume_refuses_flags_that_would_change_the_spec(results: Path) -> None:
    """--resume keeps the run's own spec: --sizes beside it is a UserError."""
    result = run_cli(["sweep", "--resume", "x", "--sizes", "10", "--results", str(results)])
    assert result.rc == 2 and "drop --sizes" in result.err


@pytest.mark.slow
def test_small_sweep_writes_meta_and_records_pins_cpus_and_shows_the_gil(results: Path) -> None:
    """A real sweep (a new interpreter per cell): meta.json with environment and calibration, every cell OK,
    workers=1 pinned to exactly one CPU, and threads on the python kernel at 2 workers near 1/2 utilisation."""
    result = run_cli(["sweep", "--workloads", "array-sum", "--sizes", "300_000", "--kernels", "python",
                      "--strategies", "threads", "--workers", "1,2", "--repeat", "3", "--warmup", "1",
                      "--rounds", "1", "--isolation", "exec", "--results", str(results), "--run-id", "small"])
    assert result.rc == 0, result.err
    assert "run folder:" in result.out and "Speedup vs sequential" in result.out
    run = results / "small"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["schema_version"] == SCHEMA_VERSION and meta["finished"]
    assert {"cpu", "memory", "python", "packages", "git", "load_average"} <= set(meta["environment"])
    # The sweep ran on this interpreter: the GIL is on unless a free-threaded build turned it off.
    assert meta["environment"]["python"]["gil_enabled"] is getattr(sys, "_is_gil_enabled", lambda: True)()
    assert {"memory_bandwidth_bytes_per_s", "process_start_ns", "pipe_round_trip_ns",
            "sleep_overshoot_ns"} <= set(meta["calibration"])
    assert meta["spec"]["workers"] == [1, 2] and len(meta["plan"]["cells"]) == 3
    assert (parbench.load(run)["status"] == "OK").all()  # every result exact
    summary = parbench.summarize(parbench.load(run)).set_index(["strategy", "workers"])
    # A busy machine may leave a cell physically doubtful: then it says why, never silently.
    suspect = summary[summary["status"] == "SUSPECT"]
    assert (summary["status"].isin(["OK", "SUSPECT"])).all() and (suspect["suspect"] != "").all()
    assert summary.loc[("sequential", 1), "cpus_granted"] == 1
    assert summary.loc[("threads", 1), "cpus_granted"] == 1
    assert summary.loc[("threads", 2), "utilisation"] < 0.75  # the GIL: one CPU's worth at most


def test_info_prints_cores_affinity_bandwidth_shm_python_and_gil() -> None:
    """`parbench info` names the machine's cores, affinity, memory bandwidth, /dev/shm and GIL state."""
    result = run_cli(["info"])
    assert result.rc == 0, result.err
    for word in ("cores", "affinity", "memory bandwidth", "/dev/shm", "Python", "GIL"):
        assert word in result.out, word
    data = json.loads(run_cli(["info", "--json"]).out)
    assert data["memory"]["bandwidth_bytes_per_s"] > 0
    assert data["cpu"]["affinity"]
