"""joblib with the loky backend, through the CLI (loky's resource tracker lives as long as the process that
used loky, so the process must be one that ends): exact results, no loky process or memmap left."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil
import pytest

from conftest import run_cli

pytestmark = pytest.mark.cluster

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
