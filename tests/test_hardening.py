"""Faults and bad input that used to get through (issue 14): each refused up front in one line with exit 2 and
nothing written, or handled as CLIs handle them (a closed pipe, --debug after the subcommand, file modes)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURE, ROOT, Result, run_cli
from parbench.cli import EXIT_CODES


def _one_line_exit_2(result: Result, reason: str) -> None:
    assert result.rc == 2, result.err
    assert result.err.count("\n") == 1 and result.err.startswith("parbench: error:"), result.err
    assert reason in result.err and "Traceback" not in result.err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run_copy(tmp_path: Path) -> Path:
    """A copy of the committed small run, in a results folder of its own."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "results" / "small"))


def test_compare_of_a_run_with_itself_is_refused(run_copy: Path) -> None:
    """`compare RUN RUN` (also spelled two ways) compares nothing: refused in one line, exit 2, not '0 regressed'."""
    result = run_cli(["compare", str(run_copy), str(run_copy / "records.jsonl")])
    _one_line_exit_2(result, "are the same run")
    assert result.out == ""


def test_empty_results_folder_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    """`sweep --results ''` would write the run into the current folder: refused, exit 2, the folder untouched."""
    result = run_cli(["sweep", "--results", "", "--workloads", "delayed-square", "--strategies", "sequential",
                      "--run-id", "x"], cwd=tmp_path)
    _one_line_exit_2(result, "--results: expected a folder, got an empty string")
    assert list(tmp_path.iterdir()) == []


BAD_ADDRESSES = {
    "dispy nodes not a host": (["--strategy", "dispy", "--dispy-nodes", "not a host!!"], "not a host name"),
    "dispy host not a host": (["--strategy", "dispy", "--dispy-host", "a b"], "not a host name"),
    "dask scheduler not a url": (["--strategy", "dask", "--dask-scheduler", "not a url"], "has no port"),
    "dask scheduler unknown protocol": (["--strategy", "dask", "--dask-scheduler", "foo://h:1"],
                                        "unknown protocol 'foo'"),
    "dask scheduler bad port": (["--strategy", "dask", "--dask-scheduler", "tcp://h:99999"], "port '99999'"),
}


@pytest.mark.parametrize("case", list(BAD_ADDRESSES))
def test_bad_cluster_address_is_refused_with_the_other_options(case: str, tmp_path: Path) -> None:
    """A malformed node, host or scheduler address is refused before anything runs (run and sweep alike): one
    line, exit 2, instead of failing at run time with exit 1."""
    args, reason = BAD_ADDRESSES[case]
    _one_line_exit_2(run_cli(["run", *args]), reason)
    strategy, *options = args[1:]
    sweep = run_cli(["sweep", "--results", str(tmp_path), "--strategies", strategy, "--workloads", "delayed-square",
                     "--config", str(_options_config(tmp_path, strategy, options))])
    _one_line_exit_2(sweep, reason)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.toml"]


def _options_config(folder: Path, strategy: str, options: list[str]) -> Path:
    flag, value = options
    config = folder / "sweep.toml"
    config.write_text(f'[options.{strategy}]\n{flag[2:].replace("-", "_")} = {json.dumps(value)}\n')
    return config


@pytest.mark.parametrize("args", [["info", "--json"], ["list", "--json"], ["--help"]])
def test_a_closed_pipe_ends_quietly(args: list[str]) -> None:
    """`parbench info --json | head -c 50`: the output stops, no 'internal error', no traceback, exit 141."""
    proc = subprocess.Popen([sys.executable, "-m", "parbench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert len(proc.stdout.read(50)) == 50
    proc.stdout.close()  # the reader goes away, as head does
    err = proc.stderr.read().decode()
    assert proc.wait(60) in (0, 141), err
    assert err == ""


def test_compare_json_into_a_closed_pipe_ends_quietly(tmp_path: Path, run_copy: Path) -> None:
    """`compare --format json | head -c 50` (an output larger than a pipe's buffer): quiet, exit 141."""
    other = shutil.copytree(run_copy, tmp_path / "other")
    shell = f"{sys.executable} -m parbench compare {run_copy} {other} --all --format json | head -c 50 >/dev/null"
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.stderr == ""
    assert proc.returncode in (0, 141)


def test_report_html_follows_the_umask(run_copy: Path) -> None:
    """report.html gets the mode of any new file (0644 under umask 022), like the run's other files, not 0600."""
    result = subprocess.run(["bash", "-c", f"umask 022 && {sys.executable} -m parbench report {run_copy}"],
                            capture_output=True, text=True, timeout=120, check=False)
    if "needs matplotlib" in result.stderr:
        pytest.fail(result.stderr)  # the report extra is part of the test environment
    assert result.returncode == 0, result.stderr
    assert (run_copy / "report.html").stat().st_mode & 0o777 == 0o644
    assert (run_copy / "records.jsonl").stat().st_mode & 0o777 == 0o644


def test_debug_is_accepted_after_the_subcommand(tmp_path: Path) -> None:
    """`parbench run ... --debug` is accepted like `parbench --debug run ...`."""
    after = run_cli(["run", "--size", "1000", "--repeat", "1", "--warmup", "0", "--debug"])
    before = run_cli(["--debug", "run", "--size", "1000", "--repeat", "1", "--warmup", "0"])
    assert after.rc == 0 and before.rc == 0, after.err + before.err
    assert "499500" in after.out and "499500" in before.out


def _readme_exit_codes() -> dict[int, str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Exit codes"):]
    return {int(code): meaning for code, meaning in re.findall(r"^\| `(\d+)` \| (.+?) \|$", section, re.MULTILINE)}


def test_every_exit_code_is_in_the_help_and_the_readme_table() -> None:
    """One table of exit codes: `parbench --help` lists EXIT_CODES (143 for SIGTERM included), and the README's
    table has the same codes."""
    result = run_cli(["--help"])
    assert result.rc == 0
    codes = [code for code, _ in EXIT_CODES]
    assert {0, 1, 2, 3, 130, 141, 143} <= set(codes)
    for code, meaning in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning)}$", result.out, re.MULTILINE), code
    assert sorted(_readme_exit_codes()) == sorted(codes)


def test_resume_accepts_the_run_folder_path(run_copy: Path) -> None:
    """`sweep --resume /path/to/run` resumes that run (here: complete, so nothing to measure), instead of
    refusing the path as a run id."""
    result = run_cli(["sweep", "--resume", str(run_copy)])
    assert result.rc == 1, result.err  # resumed: 1 because the fixture's value-nolock cells are WRONG
    assert "27 of 27 visits done, 0 to go" in result.out


def test_resume_path_outside_results_is_refused(run_copy: Path, tmp_path: Path) -> None:
    """A run path with a --results naming another folder is ambiguous: one line, exit 2, nothing written."""
    before = _snapshot(run_copy)
    result = run_cli(["sweep", "--resume", str(run_copy), "--results", str(tmp_path / "elsewhere")])
    _one_line_exit_2(result, "is not in --results")
    assert _snapshot(run_copy) == before


def test_resume_of_a_run_with_a_garbage_line_changes_nothing(run_copy: Path) -> None:
    """A records.jsonl with a garbage line (and a torn tail): --resume refuses in one line, exit 2, and every
    file of the run is byte for byte as it was (the torn tail was not cut before the refusal)."""
    records = run_copy / "records.jsonl"
    lines = records.read_text().splitlines(keepends=True)
    records.write_text("".join([*lines[:3], "this is not json\n", *lines[3:], lines[-1][:40]]))
    before = _snapshot(run_copy)
    result = run_cli(["sweep", "--resume", "small", "--results", str(run_copy.parent)])
    _one_line_exit_2(result, "records.jsonl")
    assert "nothing was changed" in result.err
    assert _snapshot(run_copy) == before


def test_resume_repairs_a_torn_tail_atomically_and_keeps_the_original(run_copy: Path) -> None:
    """A torn last line is cut by writing the whole file anew and renaming it over the old one, and the file
    as it was is kept beside it as records.jsonl.torn."""
    records = run_copy / "records.jsonl"
    whole = records.read_bytes()
    torn = whole + whole.splitlines(keepends=True)[-1][:50]
    records.write_bytes(torn)
    inode = records.stat().st_ino
    result = run_cli(["sweep", "--resume", "small", "--results", str(run_copy.parent)])
    assert result.rc == 1, result.err  # resumed: 1 because the fixture's value-nolock cells are WRONG
    assert "dropped a half-written last record" in result.out
    assert records.read_bytes() == whole
    assert records.stat().st_ino != inode  # replaced, not truncated in place
    assert (run_copy / "records.jsonl.torn").read_bytes() == torn


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_report_of_a_torn_run_says_a_record_was_left_out(run_copy: Path, fmt: str) -> None:
    """A run whose last line was torn: the report's warnings say that a record was left out, and how to redo it."""
    records = run_copy / "records.jsonl"
    records.write_bytes(records.read_bytes() + b'{"schema_version": 1, "cell": {"work')
    out = run_copy / f"report.{fmt}"
    result = run_cli(["report", str(run_copy), "--format", fmt, "-o", str(out)])
    assert result.rc == 0, result.err
    text = out.read_text()
    assert "torn record" in text and "cut mid-write" in text and "--resume small" in text
    assert os.path.getsize(records) > 0
