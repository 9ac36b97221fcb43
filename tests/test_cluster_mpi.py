"""mpi and mpi-pickle with real ranks under Debian's Open MPI mpiexec on this machine: exact results, nothing left
after a run or after the probe is killed mid-cell, and a missing hostfile."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

from conftest import describe_alive, kill_probe_mid_cell, run_cli
from parbench.processes import owned_by
from parbench.runner.cells import make_cell

# Each test its own TMPDIR (conftest.private_tmp): it checks that no scratch folder of its cell is left there.
pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("private_tmp")]

EXACT = {
    "array-sum-python": (["--workload", "array-sum", "--size", "200001", "--kernel", "python"], 20000100000),
    "array-sum-numpy": (["--workload", "array-sum", "--size", "200001", "--kernel", "numpy"], 20000100000),
    "delayed-square": (["--workload", "delayed-square", "--size", "8", "--delay", "0.01"], 140),
}
WORKER = "parbench.strategies.mpi_worker"


@pytest.mark.parametrize("case", sorted(EXACT))
@pytest.mark.parametrize("strategy", ["mpi", "mpi-pickle"])
def test_two_ranks_under_mpiexec_give_the_exact_result(strategy: str, case: str) -> None:
    """`mpiexec -n 2`: every repeat exact with buffer-based and with pickle-based collectives; the array is
    scattered (a scatter phase is timed), and no rank nor scratch folder outlives the command."""
    args, expected = EXACT[case]
    result = run_cli(["run", "--strategy", strategy, *args, "--workers", "2", "--repeat", "2", "--json"], timeout=90)
    assert result.rc == 0, result.err[-3000:]
    raw = json.loads(result.out)
    assert [s["result"] for s in raw["samples"]] == [expected] * 3
    assert raw["extra"]["ranks"] == 2 and raw["extra"]["pickled"] == (strategy == "mpi-pickle")
    if case.startswith("array-sum"):
        assert all(s["phases"].get("scatter", 0) > 0 for s in raw["samples"])
    assert list(Path(tempfile.gettempdir()).glob("parbench-mpi-*")) == []


def test_more_ranks_than_cores_are_oversubscribed() -> None:
    """3 ranks on this 2-CPU machine: Open MPI would refuse without --oversubscribe; the sum is exact."""
    result = run_cli(["run", "--strategy", "mpi", *EXACT["array-sum-numpy"][0], "--workers", "3", "--repeat", "1",
                      "--json"], timeout=90)
    assert result.rc == 0, result.err[-3000:]
    assert [s["result"] for s in json.loads(result.out)["samples"]] == [20000100000] * 2


def test_probe_killed_mid_cell_is_crashed_and_no_rank_is_left() -> None:
    """SIGKILL to the probe while its ranks run: the cell is CRASHED, and mpiexec and every rank are gone
    (listed by pid and command line if any survived)."""
    cell = make_cell("delayed-square", {"size": 8, "delay": 0.25}, "mpi", 2)
    killed = kill_probe_mid_cell(cell, WORKER, settle=1.5)
    assert killed.record.status == "CRASHED" and "SIGKILL" in str(killed.record.error)
    assert sum(WORKER in c for c in killed.commands) >= 2 and any("mpiexec" in c for c in killed.commands)
    left = describe_alive([*killed.processes, *owned_by(killed.pid)])
    assert not left, f"left behind: {left}"
    assert list(Path(tempfile.gettempdir()).glob(f"parbench-mpi-{killed.pid}-*")) == []


def test_missing_hostfile_is_one_line_exit_2(tmp_path: Path) -> None:
    """--mpi-hosts naming no readable file: one line on stderr, exit 2, no mpiexec started."""
    result = run_cli(["run", "--strategy", "mpi", "--mpi-hosts", str(tmp_path / "nowhere"), "--workload",
                      "array-sum", "--size", "1000", "--repeat", "1"])
    assert result.rc == 2
    assert result.err.strip().splitlines() == [f"parbench: error: mpi: mpi_hosts: cannot read the hostfile "
                                               f"'{tmp_path / 'nowhere'}'"]


def test_hostfile_of_this_machine_runs_the_ranks(tmp_path: Path) -> None:
    """A hostfile naming localhost with 2 slots: the ranks connect back and the sum is exact."""
    hosts = tmp_path / "hosts"
    hosts.write_text("localhost slots=2\n")
    result = run_cli(["run", "--strategy", "mpi-pickle", "--mpi-hosts", str(hosts), *EXACT["array-sum-numpy"][0],
                      "--workers", "2", "--repeat", "1", "--json"], timeout=90)
    assert result.rc == 0, result.err[-3000:]
    assert [s["result"] for s in json.loads(result.out)["samples"]] == [20000100000] * 2
