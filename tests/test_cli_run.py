"""`parbench run` and `parbench list` through the real command line."""

from __future__ import annotations

import json
import platform
import sys

import pytest

from conftest import run_cli
from parbench import registry


def _record(args: list[str]) -> tuple[int, dict]:
    result = run_cli(["run", *args, "--json"])
    return result.rc, json.loads(result.out)


def test_list_shows_every_builtin_and_all_are_available() -> None:
    """`list --json` shows the local strategies and both workloads, each available on this machine but
    subinterpreters under Python 3.11 and 3.12 (which says why)."""
    result = run_cli(["list", "--json"])
    assert result.rc == 0
    info = json.loads(result.out)
    strategies = {s["name"]: s for s in info["strategies"]}
    assert set(registry.BUILTIN_STRATEGIES) <= set(strategies)
    assert len(registry.BUILTIN_STRATEGIES) >= 13
    missing = {n: strategies[n]["reason"] for n in registry.BUILTIN_STRATEGIES if not strategies[n]["available"]}
    if sys.version_info >= (3, 13):
        assert missing == {}
    else:
        assert list(missing) == ["subinterpreters"]
        assert missing["subinterpreters"].startswith(f"Python {platform.python_version()} has no interpreters with")
    assert {"array-sum", "delayed-square"} <= {w["name"] for w in info["workloads"]}


def test_list_table_names_families() -> None:
    """The human table lists each strategy with its family."""
    result = run_cli(["list"])
    assert result.rc == 0
    for name in ("shared-array", "process-pool-executor", "value-nolock"):
        assert name in result.out
    assert "processes" in result.out and "threads" in result.out


def test_list_at_80_columns_shows_every_summary_and_wide_keeps_the_table() -> None:
    """COLUMNS=80: every strategy's and workload's summary (a strategy unavailable here: its reason), whole
    (wrapped under its name), no line past 80 columns; --wide prints the one-row-per-strategy table with its
    summary / reason column."""
    info = json.loads(run_cli(["list", "--json"]).out)
    narrow = run_cli(["list"], env={"COLUMNS": "80"})
    assert narrow.rc == 0, narrow.err
    assert max(len(line) for line in narrow.out.splitlines()) <= 80
    words = " ".join(narrow.out.split())
    entries = info["strategies"] + info["workloads"]
    said = [e.get("reason") or e["summary"] if e.get("available", True) is False else e["summary"] for e in entries]
    assert [e["name"] for e, text in zip(entries, said, strict=True) if " ".join(text.split()) not in words] == []
    assert len(entries) >= 20
    wide = run_cli(["list", "--wide"], env={"COLUMNS": "200"})
    assert wide.rc == 0 and "summary / reason" in wide.out and "┃ name" in wide.out


@pytest.mark.parametrize("strategy", ["shared-array", "shared-memory", "pool-map", "process-pipe"])
def test_course_sum_of_a_million(strategy: str) -> None:
    """The course's check: the sum of arange(10**6) is 499999500000, in every repeat."""
    rc, record = _record(["--size", "10**6", "--fill", "arange", "--strategy", strategy, "--workers", "2",
                          "--repeat", "2", "--warmup", "0"])
    assert rc == 0
    assert record["status"] == "OK"
    assert [s["result"] for s in record["samples"]] == [499_999_500_000] * 2


def test_course_delayed_square_of_eight() -> None:
    """The course's check: delayed_square over range(8) sums to 140 (with Pool.map, like the course)."""
    rc, record = _record(["--workload", "delayed-square", "--size", "8", "--delay", "0.01",
                          "--strategy", "pool-map", "--workers", "8", "--repeat", "1", "--warmup", "0"])
    assert rc == 0
    assert record["samples"][0]["result"] == 140


def test_table_output_shows_each_repeat_and_verdict() -> None:
    """Without --json, run prints a row per repeat with its phases and an OK verdict."""
    result = run_cli(["run", "--strategy", "process-pipe", "--workers", "2", "--size", "1e4", "--repeat", "3"])
    assert result.rc == 0
    lines = result.out.splitlines()
    assert sum(1 for line in lines if line.strip().startswith("#")) == 3
    assert "warmup" in result.out and "scatter" in result.out
    assert "expected 49995000" in result.out and "| OK" in result.out
    assert lines[0].startswith("array-sum[size=1e4 kernel=python fill=arange] process-pipe x2")


def test_value_nolock_race_is_reported_wrong() -> None:
    """Two workers updating an unlocked Value per item lose updates: the run says WRONG and exits 1."""
    result = run_cli(["run", "--strategy", "value-nolock", "--workers", "2", "--size", "100_000",
                      "--repeat", "3", "--warmup", "0", "--json"])
    record = json.loads(result.out)
    assert result.rc == 1
    assert record["status"] == "WRONG"
    assert any(s["result"] < record["expected"] for s in record["samples"])
    assert all(s["ok"] == (s["result"] == record["expected"]) for s in record["samples"])


def test_value_nolock_race_in_the_table() -> None:
    """The human output names the WRONG repeats too."""
    result = run_cli(["run", "--strategy", "value-nolock", "--workers", "2", "--size", "100_000",
                      "--repeat", "3", "--warmup", "0"])
    assert result.rc == 1
    assert "WRONG" in result.out
