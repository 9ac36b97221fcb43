"""A worker that raises or dies mid-run: a clear failure, teardown ran, nothing left behind."""

from __future__ import annotations

import json
import re

import pytest

from conftest import orphan_segments, run_cli

pytestmark = pytest.mark.slow

FAULTY_STRATEGIES = ["process-pipe", "process-queue", "value-lock", "manager", "mp-array", "shared-array",
                     "shared-memory", "pool-map", "process-pool-executor", "threads", "thread-pool"]


def _run_faulty(env: dict[str, str], strategy: str, mode: str) -> tuple[int, dict, str]:
    result = run_cli(["run", "--workload", "faulty", "--param", f"mode={mode}", "--size", "100",
                      "--strategy", strategy, "--workers", "2", "--repeat", "2", "--warmup", "0", "--json"],
                     env=env, timeout=60)
    return result.rc, json.loads(result.out), result.err


@pytest.mark.parametrize("strategy", FAULTY_STRATEGIES)
def test_worker_that_raises_fails_the_run_cleanly(plugin_env: dict[str, str], strategy: str) -> None:
    """The worker's exception is reported as the record's error (exit 1) and teardown removed every segment."""
    rc, record, _ = _run_faulty(plugin_env, strategy, "raise")
    assert rc == 1
    assert record["status"] == "ERROR"
    assert "boom from task 1" in record["error"]
    assert record["teardown_ns"] is not None
    assert orphan_segments() == []


@pytest.mark.parametrize("strategy", ["process-pipe", "shared-array", "shared-memory", "pool-map",
                                      "process-pool-executor"])
def test_worker_killed_by_sigkill_is_named(plugin_env: dict[str, str], strategy: str) -> None:
    """A SIGKILLed worker becomes a clear error (no hang), and its segments are still removed."""
    rc, record, _ = _run_faulty(plugin_env, strategy, "kill")
    assert rc == 1
    assert record["status"] == "ERROR"
    assert re.search(r"SIGKILL|died|terminated abruptly", record["error"]), record["error"]
    assert orphan_segments() == []
