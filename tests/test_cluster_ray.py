"""ray on real Ray processes on 127.0.0.1: a `ray start --head` cluster used through --ray-address, the embedded
default, a probe killed mid-cell, and bad addresses."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from conftest import describe_alive, kill_probe_mid_cell, run_cli
from parbench.processes import OWNER_ENV, owned_by
from parbench.runner.cells import make_cell

# One xdist worker runs them all, one at a time: the module's Ray head is started once, and no other test starts
# Ray, so the Ray scratch folders a test finds in TMPDIR are its own (Ray's socket paths must fit in 107 bytes,
# too few for conftest.private_tmp's folder below a long TMPDIR).
pytestmark = [pytest.mark.cluster, pytest.mark.xdist_group("ray")]

# The three results the issue names: array-sum with both kernels, and the course's 8 delayed squares (140).
EXACT = {
    "array-sum-python": (["--workload", "array-sum", "--size", "200000", "--kernel", "python"], 19999900000),
    "array-sum-numpy": (["--workload", "array-sum", "--size", "200000", "--kernel", "numpy"], 19999900000),
    "delayed-square": (["--workload", "delayed-square", "--size", "8", "--delay", "0.01"], 140),
}
RAY_CLI = Path(sys.executable).with_name("ray")


@dataclass(frozen=True)
class Head:
    """A Ray head started by `ray start --head`: its address and the environment its clients need."""

    address: str
    env: dict[str, str]
    processes: list[psutil.Process]


def _tagged(tag: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.environ().get(OWNER_ENV) == tag:
                found.append(proc)
    return found


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    """One head per module (a Ray start costs seconds): 2 CPUs on 127.0.0.1, its files in a folder of its own
    (short: Ray's socket paths must fit in 107 bytes), a fresh token; every process of it killed afterwards."""
    temp, tag, port = tempfile.mkdtemp(prefix="pbrh-"), f"ray-head-{secrets.token_hex(4)}", _free_port()
    env = {"RAY_AUTH_TOKEN": secrets.token_hex(32)}
    started = subprocess.run([str(RAY_CLI), "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                              "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp}",
                              "--disable-usage-stats"], env={**os.environ, **env, OWNER_ENV: tag},
                             capture_output=True, text=True, timeout=120, check=False, start_new_session=True)
    # Ray's agents do not keep the environment: the head is the tagged processes and all their descendants.
    family = {p.pid: p for t in _tagged(tag) for p in [t, *t.children(recursive=True)]}
    try:
        assert started.returncode == 0, started.stderr[-2000:]
        yield Head(f"127.0.0.1:{port}", env, list(family.values()))
    finally:
        for proc in [*family.values(), *_tagged(tag)]:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        _, alive = psutil.wait_procs(list(family.values()), timeout=10)
        shutil.rmtree(temp, ignore_errors=True)
        assert not alive, f"the test's Ray head left {describe_alive(alive)}"


@pytest.mark.parametrize("case", sorted(EXACT))
def test_running_cluster_through_ray_address_gives_the_exact_result(head: Head, case: str) -> None:
    """`--ray-address` of a real `ray start --head`: every repeat exact, run as remote, the cluster left running."""
    args, expected = EXACT[case]
    result = run_cli(["run", "--strategy", "ray", "--ray-address", head.address, *args, "--workers", "2",
                      "--repeat", "2", "--json"], env=head.env, timeout=120)
    assert result.rc == 0, result.err[-3000:]
    raw = json.loads(result.out)
    assert [s["result"] for s in raw["samples"]] == [expected] * 3
    assert raw["extra"]["mode"] == "remote" and raw["extra"]["cluster_cpus"] == 2
    assert all(p.is_running() for p in head.processes), "parbench stopped a cluster it did not start"


def test_embedded_ray_is_exact_and_leaves_no_process_nor_file(tmp_path: Path) -> None:
    """The default: Ray started for the cell and shut down after it; nothing of it survives the command, no
    scratch folder is left and no token is written under the home folder."""
    home = tmp_path / "home"
    home.mkdir()
    result = run_cli(["run", "--strategy", "ray", *EXACT["array-sum-python"][0], "--workers", "2", "--repeat", "1",
                      "--json"], env={"HOME": str(home)}, timeout=120)
    assert result.rc == 0, result.err[-3000:]
    raw = json.loads(result.out)
    assert [s["result"] for s in raw["samples"]] == [19999900000] * 2
    assert raw["extra"]["mode"] == "local"
    assert list(home.iterdir()) == []
    assert list(Path(tempfile.gettempdir()).glob("parbench-ray-*")) == []


def test_probe_killed_mid_cell_is_crashed_and_no_ray_process_is_left() -> None:
    """SIGKILL to the probe while Ray tasks run: the cell is CRASHED and the driver kills raylet, gcs_server,
    the agents and the workers (listed by pid and command line if any survived)."""
    cell = make_cell("delayed-square", {"size": 4, "delay": 0.5}, "ray", 2)
    killed = kill_probe_mid_cell(cell, "ray::_ray_task")
    assert killed.record.status == "CRASHED" and "SIGKILL" in str(killed.record.error)
    assert all(any(name in c for c in killed.commands) for name in ("raylet", "gcs_server", "ray::")), killed.commands
    left = describe_alive([*killed.processes, *owned_by(killed.pid)])
    assert not left, f"left behind: {left}"
    assert list(Path(tempfile.gettempdir()).glob(f"parbench-ray-{killed.pid}-*")) == []


@pytest.mark.parametrize("address", ["garbage", "10.0.0.1", "host:0", "host:99999", "a b:1"])
def test_garbage_ray_address_is_one_line_exit_2(address: str) -> None:
    """A malformed --ray-address is refused before Ray is touched: one line on stderr, exit 2."""
    result = run_cli(["run", "--strategy", "ray", "--ray-address", address, "--workload", "array-sum",
                      "--size", "1000", "--repeat", "1"])
    assert result.rc == 2
    assert result.err.strip().splitlines() == [f"parbench: error: ray: ray_address: expected HOST:PORT of a Ray head "
                                               f"(e.g. 10.0.0.1:6379), got {address!r}"]


def test_unreachable_ray_address_fails_within_the_cluster_timeout() -> None:
    """Nobody listening at --ray-address: exit 1 with the reason, bounded by --cluster-timeout, never a hang."""
    result = run_cli(["run", "--strategy", "ray", "--ray-address", f"127.0.0.1:{_free_port()}",
                      "--cluster-timeout", "2", "--workload", "array-sum", "--size", "1000", "--repeat", "1"],
                     timeout=60)
    assert result.rc == 1
    assert "cannot reach the Ray head" in result.out + result.err


def test_garbage_ray_address_in_a_sweep_config_is_refused_before_any_cell(tmp_path: Path) -> None:
    """A sweep's `[options.ray] ray_address` is checked while planning: one line naming the file, exit 2, no run."""
    config = tmp_path / "sweep.toml"
    config.write_text('strategies = ["ray"]\nworkloads = ["array-sum"]\n[options.ray]\nray_address = "nowhere"\n')
    result = run_cli(["sweep", "--config", str(config), "--results", str(tmp_path / "results")])
    assert result.rc == 2
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"parbench: error: {config}: options.ray: "), lines
    assert lines[0].endswith("ray_address: expected HOST:PORT of a Ray head (e.g. 10.0.0.1:6379), got 'nowhere'")
    assert not (tmp_path / "results").exists()
