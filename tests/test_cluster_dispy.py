"""dispy on real dispynode daemons bound to loopback addresses: exact results, two nodes, a node killed, a
wrong secret, and nothing left behind."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import CLUSTER_WORKLOADS, proc_text, run_cli, wait_until
from parbench.errors import StrategyError
from parbench.registry import get_workload
from parbench.results.schema import Record
from parbench.runner.cells import make_cell
from parbench.runner.measure import measure
from parbench.strategies.base import Context
from parbench.strategies.dispy_cluster import DispyStrategy
from parbench.strategies.dispy_nodes import (
    LocalNode,
    free_port,
    node_cpus,
    start_nodes,
    stop_nodes,
    wait_serving,
)

# Each test its own TMPDIR (conftest.private_tmp): it checks that no scratch folder of its cell is left there.
pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("private_tmp")]


def _dispy_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("parbench-dispy-*")}


def _run_json(args: list[str], timeout: float = 90) -> tuple[int, dict[str, Any], float]:
    t0 = time.monotonic()
    result = run_cli(["run", "--strategy", "dispy", "--json", *args], timeout=timeout)
    elapsed = time.monotonic() - t0
    assert result.out.strip(), f"no record printed; stderr: {result.err}"
    return result.rc, json.loads(result.out), elapsed


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[list[LocalNode], Path]]:
    """Two real dispynodes, 1 CPU each, on 127.0.0.1 and 127.0.0.2 and distinct free ports; their secret file."""
    secret = tmp_path / "secret"
    secret.write_text("parbench-test-secret\n")
    nodes = start_nodes([1, 1], "parbench-test-secret", tmp_path)
    try:
        wait_serving(nodes, timeout=30)
        yield nodes, secret
    finally:
        stop_nodes(nodes)


def _addresses(nodes: list[LocalNode]) -> str:
    return ",".join(str(n.address) for n in nodes)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("workload", sorted(CLUSTER_WORKLOADS))
def test_embedded_nodes_give_the_exact_result(workload: str, workers: int) -> None:
    """With no nodes given, dispy starts its own nodes, every repeat is exact, and nodes and files are gone."""
    before = _dispy_dirs()
    record = measure(make_cell(workload, CLUSTER_WORKLOADS[workload], "dispy", workers), repeat=2, warmup=1)
    assert record.status == "OK", record.error
    assert [s.result for s in record.samples] == [record.expected] * 3
    nodes = record.extra["nodes"]
    assert sum(n["cpus"] for n in nodes) == workers
    tasks = 8 if workload == "delayed-square" else workers
    assert sum(n["jobs_done"] for n in nodes) == 3 * tasks
    assert not [p for p in psutil.Process().children(recursive=True) if "dispynode" in (proc_text(p) or "")]
    assert _dispy_dirs() == before


def test_more_workers_than_cpus_start_more_nodes() -> None:
    """Workers beyond the usable CPUs go to a second node on its own loopback address; the result is exact."""
    workers = node_cpus() + 1
    record = measure(make_cell("delayed-square", {"size": 6, "delay": 0}, "dispy", workers), repeat=1)
    assert record.status == "OK", record.error
    assert record.samples[0].result == record.expected == 55
    nodes = record.extra["nodes"]
    assert len(nodes) == 2
    assert sorted(n["address"].split(":")[0] for n in nodes) == ["127.0.0.1", "127.0.0.2"]
    assert sum(n["cpus"] for n in nodes) == workers


def test_cli_runs_dispy_with_no_set_up(tmp_path: Path) -> None:
    """`parbench run --strategy dispy` works as is; stdout is only the record; nothing lands in the cwd."""
    result = run_cli(["run", "--strategy", "dispy", "--workload", "delayed-square", "--delay", "0.01",
                      "--workers", "2", "--repeat", "2", "--json"], cwd=tmp_path, timeout=90)
    assert result.rc == 0, result.err
    record = Record.from_dict(json.loads(result.out))
    assert record.status == "OK"
    assert [s.result for s in record.samples] == [140] * 3
    assert record.extra["mode"] == "embedded"
    assert list(tmp_path.iterdir()) == []  # no _dispy_* recovery files


def test_two_nodes_on_one_machine_share_the_jobs(two_nodes: tuple[list[LocalNode], Path]) -> None:
    """Two dispynodes (distinct addresses and ports) serve one cluster: both run jobs, the sum is exact."""
    nodes, secret = two_nodes
    assert len({n.address.port for n in nodes}) == 2
    rc, raw, _ = _run_json(["--workload", "delayed-square", "--delay", "0.05", "--workers", "2", "--repeat", "1",
                            "--dispy-nodes", _addresses(nodes), "--dispy-secret-file", str(secret)])
    assert rc == 0, raw["error"]
    assert [s["result"] for s in raw["samples"]] == [140, 140]
    done = {n["address"]: n["jobs_done"] for n in raw["extra"]["nodes"]}
    assert set(done) == {str(n.address) for n in nodes}
    assert all(count > 0 for count in done.values()), done
    assert sum(done.values()) == 16


def _wait_for_job(node: LocalNode, timeout: float) -> None:
    """Until `node` runs a job: its setup process plus at least one job process below it."""
    wait_until(lambda: len(psutil.Process(node.pid).children(recursive=True)) >= 2, timeout, "a job on the node")


@pytest.mark.slow
def test_node_killed_mid_run_never_gives_a_wrong_sum_or_hangs(two_nodes: tuple[list[LocalNode], Path]) -> None:
    """SIGKILL one of two nodes while it runs a job: the jobs finish on the other node with the exact sum,
    or the cell fails with a clear reason within the timeout; never WRONG, never a hang."""
    nodes, secret = two_nodes
    args = [sys.executable, "-m", "parbench", "run", "--strategy", "dispy", "--json", "--workload",
            "delayed-square", "--delay", "0.3", "--workers", "2", "--repeat", "1", "--warmup", "0",
            "--cluster-timeout", "20", "--dispy-nodes", _addresses(nodes), "--dispy-secret-file", str(secret)]
    t0 = time.monotonic()
    cli = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_job(nodes[1], timeout=30)
        os.killpg(nodes[1].pid, signal.SIGKILL)
        out, _ = cli.communicate(timeout=60)
    finally:
        cli.kill()
    assert time.monotonic() - t0 < 60
    raw = json.loads(out)
    assert raw["status"] in ("OK", "ERROR"), raw
    if raw["status"] == "OK":
        assert [s["result"] for s in raw["samples"]] == [140]
        lost = [n for n in raw["extra"]["nodes"] if n["lost"]]
        assert [n["address"] for n in lost] == [str(nodes[1].address)]
    else:
        assert "dispy" in raw["error"] and not raw["samples"], raw["error"]


def test_wrong_secret_gets_a_clear_error_not_a_hang(two_nodes: tuple[list[LocalNode], Path], tmp_path: Path) -> None:
    """A client whose secret differs from the nodes' is turned away: status ERROR naming the secret, fast."""
    nodes, _ = two_nodes
    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret\n")
    rc, raw, elapsed = _run_json(["--workload", "delayed-square", "--workers", "2", "--cluster-timeout", "30",
                                  "--dispy-nodes", _addresses(nodes), "--dispy-secret-file", str(wrong)])
    assert rc == 1
    assert raw["status"] == "ERROR"
    assert "secret" in raw["error"]
    assert raw["samples"] == []
    assert elapsed < 30


def test_remote_nodes_without_a_secret_file_are_a_user_error() -> None:
    """--dispy-nodes without --dispy-secret-file stops before any connection: one line, exit 2."""
    result = run_cli(["run", "--strategy", "dispy", "--dispy-nodes", "127.0.0.1:9"])
    assert result.rc == 2
    assert result.err.startswith("parbench: error: --dispy-nodes needs --dispy-secret-file")


def test_dispy_nodes_script_serves_a_cluster_until_stopped(tmp_path: Path) -> None:
    """The nodes script starts 2 nodes, prints the command that uses them (it works, on both nodes), and
    SIGTERM stops them all."""
    secret = tmp_path / "secret"
    port = free_port("127.0.0.1")
    script = subprocess.Popen([sys.executable, "-m", "parbench.strategies.dispy_nodes", "2", "--port", str(port),
                               "--cpus", "1", "--secret-file", str(secret)], stdout=subprocess.PIPE, text=True)
    try:
        assert script.stdout is not None
        lines = [script.stdout.readline() for _ in range(6)]
        command = next(line for line in lines if "--dispy-nodes" in line).split()
        nodes = command[command.index("--dispy-nodes") + 1]
        assert nodes == f"127.0.0.1:{port},127.0.0.2:{port}"
        assert secret.stat().st_mode & 0o777 == 0o600
        pids = [p.pid for p in psutil.Process(script.pid).children()]
        rc, raw, _ = _run_json(["--workload", "delayed-square", "--delay", "0.05", "--workers", "2", "--repeat", "1",
                                "--dispy-nodes", nodes, "--dispy-secret-file", str(secret)])
        assert rc == 0, raw["error"]
        assert [s["result"] for s in raw["samples"]] == [140, 140]
        assert all(n["jobs_done"] > 0 for n in raw["extra"]["nodes"])
    finally:
        script.terminate()
        assert script.wait(timeout=30) == 0
    assert not [pid for pid in pids if psutil.pid_exists(pid)]


def test_node_that_cannot_import_the_workload_fails_fast() -> None:
    """A node where the workload's module does not import (a remote node without parbench, say) fails the
    setup at once, naming the missing module."""
    base = get_workload("delayed-square")

    class Elsewhere(base):
        pass

    Elsewhere.__module__ = "parbench_not_installed_here"
    strategy = DispyStrategy(Context(Elsewhere(), None, 1, None, {"cluster_timeout": 30}))
    t0 = time.monotonic()
    try:
        with pytest.raises(StrategyError, match="No module named 'parbench_not_installed_here'"):
            strategy.setup()
    finally:
        strategy.teardown()
    assert time.monotonic() - t0 < 30


def test_a_secret_that_looks_like_a_flag_still_reaches_the_node(tmp_path: Path) -> None:
    """A secret starting with '-' (token_urlsafe can give one) is passed as --secret=..., not read as an option:
    the node serves, and a client with that secret runs a job on it with the exact result."""
    secret = tmp_path / "secret"
    secret.write_text("-dash-first-secret\n")
    nodes = start_nodes([1], "-dash-first-secret", tmp_path)
    try:
        wait_serving(nodes, timeout=30)
        rc, raw, _ = _run_json(["--workload", "delayed-square", "--delay", "0.01", "--workers", "1", "--repeat", "1",
                                "--dispy-nodes", _addresses(nodes), "--dispy-secret-file", str(secret)])
    finally:
        stop_nodes(nodes)
    assert rc == 0, raw["error"]
    assert raw["status"] == "OK"
    assert [s["result"] for s in raw["samples"]] == [140, 140]
    assert [(n["address"], n["jobs_done"]) for n in raw["extra"]["nodes"]] == [(str(nodes[0].address), 16)]


def _inet_sockets(proc: psutil.Process) -> set[tuple[str, str]]:
    """(kind, local ip) of the process's TCP listening and UDP sockets."""
    try:
        found = proc.net_connections(kind="inet")
    except psutil.Error:
        return set()
    return {("udp" if c.type == socket.SOCK_DGRAM else "tcp", c.laddr.ip) for c in found
            if c.type == socket.SOCK_DGRAM or c.status == psutil.CONN_LISTEN}


def test_embedded_cluster_binds_loopback_only_and_shows_no_secret() -> None:
    """While the embedded cluster serves: every listening TCP and every UDP socket of its nodes (and their job
    processes) and of the client is bound to a loopback address (no 255.255.255.255 broadcast socket), and the
    secret is in no process's command line (it reaches the nodes in an owner-only config file)."""
    workload = get_workload("delayed-square").from_params({"size": 4, "delay": 0.01})
    before = _inet_sockets(psutil.Process())
    strategy = DispyStrategy(Context(workload, None, 2, None, {"cluster_timeout": 30}))
    try:
        strategy.setup()
        nodes = [psutil.Process(node.pid) for node in strategy.local or []]
        assert nodes
        configs = list(Path(str(strategy.root)).glob("*.cfg"))
        assert configs and all(c.stat().st_mode & 0o077 == 0 for c in configs)
        secret = next(line.split(" = ", 1)[1] for line in configs[0].read_text().splitlines()
                      if line.startswith("secret = "))
        family = [*nodes, *(k for n in nodes for k in n.children(recursive=True))]
        sockets = set().union(*(_inet_sockets(p) for p in family)) | (_inet_sockets(psutil.Process()) - before)
        assert {kind for kind, _ in sockets} == {"tcp", "udp"}
        assert all(ipaddress.ip_address(ip).is_loopback for _, ip in sockets), sockets
        commands = [proc_text(p) or "" for p in psutil.process_iter()]
        assert not [c for c in commands if secret in c]
    finally:
        strategy.teardown()
