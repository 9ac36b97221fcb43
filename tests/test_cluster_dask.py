"""dask on a real LocalCluster (worker processes on 127.0.0.1): exact results, an existing scheduler, cleanup."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

import psutil
import pytest

from conftest import CLUSTER_WORKLOADS, proc_text, run_cli
from parbench.runner.cells import make_cell
from parbench.runner.measure import measure

# Each test its own TMPDIR (conftest.private_tmp): it checks that no scratch folder of its cell is left there.
pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("private_tmp")]


def _scratch() -> set[str]:
    tmp = Path(tempfile.gettempdir())
    return {p.name for p in [*tmp.glob("parbench-dask-*"), *tmp.glob("dask-scratch-space")]}


def _worker_processes() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "spawn_main" in (proc_text(p) or "")]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("workload", sorted(CLUSTER_WORKLOADS))
def test_local_cluster_gives_the_exact_result(workload: str, workers: int) -> None:
    """A LocalCluster of `workers` single-threaded processes: every repeat exact, workers and scratch gone."""
    before = _scratch()
    record = measure(make_cell(workload, CLUSTER_WORKLOADS[workload], "dask", workers), repeat=2, warmup=1)
    assert record.status == "OK", record.error
    assert [s.result for s in record.samples] == [record.expected] * 3
    assert record.extra["mode"] == "local"
    assert [w["nthreads"] for w in record.extra["workers"]] == [1] * workers
    if workload == "array-sum":
        assert all(s.phases.get("scatter", 0) > 0 for s in record.samples)
    assert psutil.wait_procs(_worker_processes(), timeout=10)[1] == []
    assert _scratch() == before


@pytest.mark.slow
def test_existing_scheduler_is_used_through_the_cli(tmp_path: Path) -> None:
    """--dask-scheduler points parbench at a running cluster: its workers compute the exact sum."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"temporary-directory": str(tmp_path)}), LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
            silence_logs=logging.ERROR) as cluster:
        result = run_cli(["run", "--strategy", "dask", "--workload", "array-sum", "--size", "100000",
                          "--workers", "2", "--repeat", "1", "--dask-scheduler", cluster.scheduler_address,
                          "--json"], timeout=90)
        assert result.rc == 0, result.err
        raw = json.loads(result.out)
        assert [s["result"] for s in raw["samples"]] == [4999950000, 4999950000]
        assert raw["extra"]["mode"] == "remote"
        assert raw["extra"]["scheduler"] == cluster.scheduler_address
        assert len(cluster.scheduler_info["workers"]) == 2  # parbench closed its client, not the cluster


def test_unreachable_scheduler_fails_within_the_timeout() -> None:
    """A scheduler address nobody listens on is a clear ERROR within --cluster-timeout, not a hang."""
    result = run_cli(["run", "--strategy", "dask", "--workload", "delayed-square", "--delay", "0",
                      "--dask-scheduler", "tcp://127.0.0.1:9", "--cluster-timeout", "1", "--json"], timeout=60)
    assert result.rc == 1
    raw = json.loads(result.out)
    assert raw["status"] == "ERROR"
    assert "tcp://127.0.0.1:9" in raw["error"]
    assert raw["samples"] == []


def test_cluster_stops_when_the_client_close_fails() -> None:
    """client.close() timing out must not skip cluster.close(): the worker processes stop all the same."""
    from parbench.strategies.base import Context
    from parbench.strategies.dask_cluster import DaskStrategy
    from parbench.workloads.delayed_square import DelayedSquare

    before = _scratch()
    strategy = DaskStrategy(Context(DelayedSquare.from_params({"size": 2, "delay": 0}), None, 1))
    try:
        strategy.setup()
        workers = _worker_processes()
        assert workers
        client = strategy.client

        def close(timeout: float | None = None) -> None:
            del client.close  # once: Client.__del__ closes again
            client.close(timeout=timeout)
            raise TimeoutError("client close timed out")

        client.close = close
    except BaseException:
        strategy.teardown()
        raise
    with pytest.raises(TimeoutError, match="client close timed out"):
        strategy.teardown()
    assert psutil.wait_procs(workers, timeout=10)[1] == []
    assert _scratch() == before
