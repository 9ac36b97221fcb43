"""joblib with the loky backend, through the CLI (loky's resource tracker lives as long as the process that
used loky, so the process must be one that ends): exact results, no loky process or memmap left."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import run_cli

# serial: it looks for loky processes and joblib files machine-wide (tests/turns.py).
pytestmark = [pytest.mark.cluster, pytest.mark.serial]

WORKLOADS = {
    # Over 1 MB per slice, so joblib memory-maps the input instead of pickling it.
    "array-sum": ["--size", "300000"],
    "delayed-square": ["--size", "8", "--delay", "0.01"],
}


def _loky_processes(since: float) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline", "create_time"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "loky" in cmdline and (proc.info["create_time"] or 0) >= since - 1:
            found.append(f"{proc.pid} {cmdline[:80]}")
    return found


def _joblib_shm() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob("*") if "joblib" in p.name or "loky" in p.name}


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_loky_gives_the_exact_result_and_leaves_nothing(workload: str, workers: int) -> None:
    """Parallel(n_jobs=workers, backend='loky'): every repeat exact; no loky process or memmap folder left."""
    since, shm_before = time.time(), _joblib_shm()
    result = run_cli(["run", "--strategy", "joblib", "--workload", workload, *WORKLOADS[workload],
                      "--workers", str(workers), "--repeat", "2", "--json"], timeout=90)
    assert result.rc == 0, result.err
    raw = json.loads(result.out)
    assert raw["status"] == "OK"
    assert [s["result"] for s in raw["samples"]] == [raw["expected"]] * 3
    assert raw["extra"]["n_jobs"] == workers
    assert raw["extra"]["backend"] == ("loky" if workers > 1 else "sequential")  # joblib's own n_jobs=1 rule
    assert _loky_processes(since) == []
    assert _joblib_shm() <= shm_before


# Runs in a fresh process (loky's resource tracker lives as long as the process that used loky): Parallel's
# __exit__ fails in teardown; the loky workers must be gone all the same, while this process still lives (loky
# workers also end once their parent is gone, which would hide a teardown that skipped them).
_EXIT_FAILS = """
import psutil
from parbench.processes import is_lifetime_helper
from parbench.strategies.base import Context
from parbench.strategies.joblib_loky import JoblibStrategy
from parbench.workloads.delayed_square import DelayedSquare

strategy = JoblibStrategy(Context(DelayedSquare.from_params({"size": 2, "delay": 0}), None, 2))
strategy.setup()
workers = [p for p in psutil.Process().children() if not is_lifetime_helper(" ".join(p.cmdline()))]
def fail(*args):
    raise RuntimeError("exit failed")
strategy.parallel.__exit__ = fail
try:
    strategy.teardown()
except RuntimeError as exc:
    print("raised", exc)
print(len(workers), len(psutil.wait_procs(workers, timeout=10)[1]))
"""


def test_loky_workers_stop_when_parallel_exit_fails() -> None:
    """Parallel.__exit__ raising in teardown does not skip the executor's terminate: no loky worker left."""
    proc = subprocess.run([sys.executable, "-c", _EXIT_FAILS], capture_output=True, text=True, timeout=90,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["raised exit failed", "2 0"]  # 2 workers, none left alive
