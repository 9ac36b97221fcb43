"""A worker that raises or dies mid-run: a clear failure, teardown ran, nothing left behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from conftest import orphan_segments, run_cli, wait_until
from parbench.processes import is_lifetime_helper

MARKERS_ENV = "PBPLUGIN_MARKERS"  # pbplugin's: where its faulty workload marks a finished task and the hang

pytestmark = pytest.mark.slow

FAULTY_STRATEGIES = ["process-pipe", "process-queue", "value-lock", "manager", "mp-array", "shared-array",
                     "shared-memory", "pool-map", "process-pool-executor", "mpire", "threads", "thread-pool"]


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
                                      "process-pool-executor", "mpire"])
def test_worker_killed_by_sigkill_is_named(plugin_env: dict[str, str], strategy: str) -> None:
    """A SIGKILLed worker becomes a clear error (no hang), and its segments are still removed."""
    rc, record, _ = _run_faulty(plugin_env, strategy, "kill")
    assert rc == 1
    assert record["status"] == "CRASHED"  # a worker that died, as opposed to one that raised (ERROR)
    assert re.search(r"SIGKILL|died|terminated abruptly", record["error"]), record["error"]
    assert orphan_segments() == []


def _is_worker(proc: psutil.Process) -> bool:
    try:
        return not is_lifetime_helper(" ".join(proc.cmdline()))
    except psutil.ZombieProcess:
        return True  # the worker of task 0, done and not yet joined
    except psutil.Error:
        return False


def _start_hanging_run(env: dict[str, str], strategy: str,
                       markers: Path) -> tuple[subprocess.Popen[str], list[psutil.Process]]:
    """A `run` whose task-1 worker hangs, with its worker processes: returned once task 0 has finished and task 1
    has begun its hang (the faulty workload marks both in `markers`). A per-run worker of task 0 may already be
    joined and gone by then (shared memory), so the workers are those still there, the hanging one among them."""
    proc = subprocess.Popen([sys.executable, "-m", "parbench", "run", "--workload", "faulty", "--param", "mode=hang",
                             "--strategy", strategy, "--workers", "2", "--repeat", "1", "--warmup", "0"],
                            env={**os.environ, **env, MARKERS_ENV: str(markers)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def running() -> bool:
        assert proc.poll() is None, f"the run exited ({proc.returncode}) before its task 1 hung"
        return True

    seen: list[psutil.Process] = []

    def marked() -> bool:
        seen[:] = psutil.Process(proc.pid).children(recursive=True)  # to kill, should the wait fail
        return running() and {"done-0", "hang-1"} <= {m.name for m in markers.iterdir()}

    def workers_up() -> list[psutil.Process] | None:
        seen[:] = psutil.Process(proc.pid).children(recursive=True)
        workers = [c for c in seen if _is_worker(c)]
        hanging = int((markers / "hang-1").read_text())
        return workers if running() and hanging in [w.pid for w in workers] else None

    try:
        wait_until(marked, 30, "task 0 to finish and task 1 to hang")
        workers = wait_until(workers_up, 30, "the run's hanging worker")
    except BaseException:
        proc.terminate()  # its own teardown stops the workers and unlinks the segment
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            for leftover in seen:  # the hanging worker holds the run's pipes: kill it too, or communicate() waits
                with contextlib.suppress(psutil.NoSuchProcess):
                    leftover.kill()
            proc.communicate(timeout=30)
        raise
    return proc, workers


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_run_tears_down(plugin_env: dict[str, str], sig: signal.Signals, code: int,
                                     tmp_path: Path) -> None:
    """SIGTERM or Ctrl-C while a worker hangs: the run exits 143/130, its workers are gone, its segment too."""
    proc, workers = _start_hanging_run(plugin_env, "shared-memory", tmp_path)
    os.kill(proc.pid, sig)
    proc.communicate(timeout=30)
    assert proc.returncode == code
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []
    assert orphan_segments() == []


@pytest.mark.parametrize("strategy", ["process-pool-executor", "joblib"])
def test_ctrl_c_during_a_hung_pool_task_kills_the_workers(plugin_env: dict[str, str], strategy: str,
                                                          tmp_path: Path) -> None:
    """Ctrl-C while a pool worker hangs: teardown kills the workers (they ignore SIGINT) instead of waiting
    for the hung task forever; the run exits 130 and no worker is left."""
    proc, workers = _start_hanging_run(plugin_env, strategy, tmp_path)
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []
