"""Third-party workloads and strategies declared through entry points, installed as a real package."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli

pytestmark = pytest.mark.slow  # installs a package with pip once per session


def test_plugin_parts_are_listed(plugin_env: dict[str, str]) -> None:
    """`list` shows the plugin's workload and strategy with their origin, and the broken one with its error."""
    result = run_cli(["list", "--json"], env=plugin_env)
    assert result.rc == 0
    info = json.loads(result.out)
    workloads = {w["name"]: w for w in info["workloads"]}
    strategies = {s["name"]: s for s in info["strategies"]}
    assert workloads["primes"]["origin"] == "plugin parbench-example-plugin"
    assert strategies["imap-unordered"]["available"] is True
    assert strategies["imap-unordered"]["family"] == "processes"
    assert strategies["broken"]["available"] is False
    assert "pbplugin.missing" in strategies["broken"]["reason"]


def test_plugin_missing_part_of_the_protocol_is_listed_as_broken(plugin_env: dict[str, str]) -> None:
    """A strategy class that skips BaseStrategy and lacks members the CLI uses is broken, named with what it
    lacks, instead of crashing `list` or a sweep's planning with an AttributeError."""
    result = run_cli(["list", "--json"], env=plugin_env)
    assert result.rc == 0, result.err
    bare = {s["name"]: s for s in json.loads(result.out)["strategies"]}["bare"]
    assert bare["available"] is False
    assert "not a strategy" in bare["reason"]
    assert all(m in bare["reason"] for m in ("by_name_only", "extra", "max_workers", "options", "summary",
                                             "uses_start_method"))
    planned = run_cli(["sweep", "--strategies", "family:sequential", "--workers", "1", "--dry-run"], env=plugin_env)
    assert planned.rc == 0 and "Traceback" not in planned.err, planned.err
    named = run_cli(["run", "--strategy", "bare"], env=plugin_env)
    assert named.rc == 2 and "is broken" in named.err and "Traceback" not in named.err


def test_broken_plugin_does_not_break_the_table(plugin_env: dict[str, str]) -> None:
    """The human `list` still works and shows the broken plugin's reason."""
    result = run_cli(["list"], env=plugin_env)
    assert result.rc == 0
    assert "broken" in result.out and "ModuleNotFoundError" in result.out


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_example_plugin_workload_runs_with_its_strategy(plugin_env: dict[str, str], method: str) -> None:
    """`run` measures the example plugin's workload with its strategy (its option set by flag, spawned workers
    included) and checks the exact answer: 1229 primes below 10 000."""
    result = run_cli(["run", "--workload", "primes", "--size", "10000", "--strategy", "imap-unordered",
                      "--workers", "2", "--chunksize", "2", "--start-method", method, "--repeat", "1", "--json"],
                     env=plugin_env)
    assert result.rc == 0, result.err
    record = json.loads(result.out)
    assert record["status"] == "OK" and {s["result"] for s in record["samples"]} == {1229}
    assert record["extra"] == {"chunksize": 2}


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_plugin_workload_runs_with_builtin_process_strategy(plugin_env: dict[str, str], method: str) -> None:
    """Worker processes (also spawned ones, which re-import everything) find the plugin workload."""
    result = run_cli(["run", "--workload", "primes", "--strategy", "process-pipe", "--workers", "2",
                      "--size", "1000", "--start-method", method, "--repeat", "1", "--json"], env=plugin_env)
    assert result.rc == 0, result.err
    assert json.loads(result.out)["samples"][0]["result"] == 168


def test_builtin_workload_runs_with_the_example_strategy(plugin_env: dict[str, str]) -> None:
    """The example strategy runs a built-in workload too (array-sum's slices pickled through the pool)."""
    result = run_cli(["run", "--workload", "array-sum", "--size", "1e5", "--strategy", "imap-unordered",
                      "--workers", "2", "--repeat", "1", "--json"], env=plugin_env)
    assert result.rc == 0, result.err
    assert json.loads(result.out)["samples"][0]["result"] == 4_999_950_000


def test_asking_for_the_broken_plugin_is_a_clear_error(plugin_env: dict[str, str]) -> None:
    """Naming the broken plugin gives one line saying why it is broken, exit 2."""
    result = run_cli(["run", "--strategy", "broken"], env=plugin_env)
    assert result.rc == 2
    assert result.err.count("\n") == 1 and "is broken" in result.err


def test_a_plugin_strategy_without_run_is_listed_as_broken_and_refused(plugin_env: dict[str, str]) -> None:
    """A BaseStrategy subclass that does not define run() (it would inherit the NotImplementedError placeholder)
    is listed as broken, saying it lacks run, and `run` refuses it in one line, exit 2: never an internal error."""
    listed = run_cli(["list", "--json"], env=plugin_env)
    hollow = {s["name"]: s for s in json.loads(listed.out)["strategies"]}["hollow"]
    assert hollow["available"] is False and "missing run" in hollow["reason"]
    named = run_cli(["run", "--strategy", "hollow", "--workers", "1"], env=plugin_env)
    assert named.rc == 2, named.err
    assert named.err.count("\n") == 1 and "'hollow' is broken" in named.err and "missing run" in named.err


def test_a_plugin_strategy_that_raises_is_blamed_not_parbench(plugin_env: dict[str, str]) -> None:
    """An unexpected exception from a plugin's run() fails the run naming the plugin (exit 1), not as an
    internal error of parbench (exit 3)."""
    result = run_cli(["run", "--strategy", "raiser", "--workers", "1", "--repeat", "1", "--warmup", "0"],
                     env=plugin_env)
    assert result.rc == 1, result.err
    assert "plugin strategy 'raiser' (plugin pbplugin) raised ValueError: a bug in the plugin" in result.err
    assert "internal error" not in result.err and "Traceback" not in result.err
