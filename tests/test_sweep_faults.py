"""A sweep survives what goes wrong in a cell (a killed worker, a killed probe, a hang) and Ctrl-C, and leaves
no process or /dev/shm segment behind. Real processes, real signals, no fault hooks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from conftest import proc_text, run_cli, skip_unless_no_skip, wait_until
from parbench.processes import is_lifetime_helper
from parbench.results.schema import Cell
from parbench.runner.plan import PlannedCell, make_plan
from parbench.runner.spec import ParamFlag, build_spec
from parbench.runner.sweep import Limits, measure_isolated, probes
from parbench.segments import leftover_segments
from parbench.strategies.optional import installed

PROBE = "parbench.runner.probe"


class Sweep:
    """`parbench sweep` running in the background, with its output in files."""

    def __init__(self, results: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        self.results = results
        self.log = results.parent / "sweep.log"
        with self.log.open("w") as log:
            rounds = [] if "--rounds" in args else ["--rounds", "1"]
            self.proc = subprocess.Popen([sys.executable, "-m", "parbench", "sweep", "--results", str(results),
                                          "--run-id", "r", *rounds, *args], stdout=log, stderr=subprocess.STDOUT,
                                         env=env)

    def probes(self) -> list[psutil.Process]:
        """The running probes: forked by the probe server (or, with --isolation exec, started by the sweep)."""
        found = []
        for proc in psutil.Process(self.proc.pid).children(recursive=True):
            try:
                command, parent = " ".join(proc.cmdline()), proc.parent()
                server = "--serve" in command and proc.ppid() == self.proc.pid
                forked = parent is not None and parent.ppid() == self.proc.pid and "--serve" in " ".join(
                    parent.cmdline())
                if PROBE in command and not server and (forked or proc.ppid() == self.proc.pid):
                    found.append(proc)
            except psutil.Error:
                pass
        return found

    def records(self) -> list[dict[str, object]]:
        path = self.results / "r" / "records.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def finish(self, timeout: float = 120) -> int:
        return self.proc.wait(timeout)


@pytest.fixture
def sweep(tmp_path: Path) -> Iterator[Callable[[list[str]], Sweep]]:
    started: list[Sweep] = []

    def start(args: list[str]) -> Sweep:
        started.append(Sweep(tmp_path / "results", args))
        return started[-1]

    yield start
    for running in started:  # a failed assertion must not leave a sweep running
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait()


def _gone(procs: list[psutil.Process]) -> bool:
    def dead(p: psutil.Process) -> bool:
        try:
            return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            return True
    return all(dead(p) for p in procs)


def _in_group(pgid: int) -> list[psutil.Process]:
    """Live processes of process group `pgid` (a probe's: it leads its own group)."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def _probe_with_workers(sweep: Sweep) -> tuple[psutil.Process, list[psutil.Process]]:
    def look() -> tuple[psutil.Process, list[psutil.Process]] | None:
        for probe in sweep.probes():
            commands = [(k, proc_text(k)) for k in probe.children()]
            with_kids = [k for k, cmd in commands if cmd is not None and not is_lifetime_helper(cmd)]
            if with_kids and leftover_segments(probe.pid):
                return probe, with_kids
        return None
    return wait_until(look, 60, "a probe with its workers and its segment")


def _seed_putting_first(strategy: str, flags: dict[str, str], params: list[ParamFlag]) -> int:
    for seed in range(100):
        spec = build_spec(None, None, {**flags, "seed": str(seed)}, params)
        if make_plan(spec).cells[0].cell.strategy == strategy:
            return seed
    raise AssertionError(f"no seed puts {strategy} first")


SLOW_SHARED = {"workloads": "delayed-square", "strategies": "shared-array,threads", "workers": "2",
               "repeat": "2", "warmup": "0"}
SLOW_PARAMS = [ParamFlag("--sizes", "size", ("4",)), ParamFlag("--delay", "delay", ("0.3",))]


def _slow_shared_args(strategies: str = "shared-array,threads") -> list[str]:
    """A sweep whose first cell is shared-array x2 on 4 items of 0.3 s (long enough to be caught running)."""
    seed = _seed_putting_first("shared-array", {**SLOW_SHARED, "strategies": strategies}, SLOW_PARAMS)
    return ["--workloads", "delayed-square", "--sizes", "4", "--delay", "0.3", "--strategies", strategies,
            "--workers", "2", "--repeat", "2", "--warmup", "0", "--seed", str(seed)]


@pytest.mark.slow
def test_a_worker_killed_mid_cell_makes_the_cell_crashed_and_the_sweep_goes_on(sweep: Callable[..., Sweep]) -> None:
    """SIGKILL to one worker of a running cell: that cell is CRASHED, the cells after it are measured, and none
    of its processes or /dev/shm segments survive."""
    running = sweep(_slow_shared_args())
    probe, workers = _probe_with_workers(running)
    family = [probe, *probe.children(recursive=True)]
    os.kill(workers[0].pid, signal.SIGKILL)
    assert running.finish() == 1  # a cell failed
    records = running.records()
    assert records[0]["status"] == "CRASHED"
    assert records[0]["cell"]["strategy"] == "shared-array"
    assert "SIGKILL" in str(records[0]["error"])
    assert len(records) == 3 and all(r["status"] == "OK" for r in records[1:])
    assert wait_until(lambda: _gone(family), 10, "the crashed cell's processes to go")
    assert leftover_segments(probe.pid) == []


@pytest.mark.slow
def test_a_killed_probe_is_crashed_and_its_workers_and_segments_are_cleaned(sweep: Callable[..., Sweep]) -> None:
    """SIGKILL to the probe itself: CRASHED with the signal named; its orphaned workers and the SharedArray
    segment it had made are removed by the driver. (shared-array alone: what follows the crash is the other
    test's business.)"""
    running = sweep(_slow_shared_args("shared-array"))
    probe, workers = _probe_with_workers(running)
    os.kill(probe.pid, signal.SIGKILL)
    assert running.finish() == 1
    crashed = running.records()[0]
    assert crashed["status"] == "CRASHED" and "killed by SIGKILL" in str(crashed["error"])
    assert wait_until(lambda: _gone(workers), 10, "the killed probe's workers to go")
    assert leftover_segments(probe.pid) == []


@pytest.mark.slow
def test_a_hanging_cell_is_a_timeout_within_timeout_plus_5_s(sweep: Callable[..., Sweep]) -> None:
    """A cell that would sleep for hours is killed at --timeout and recorded TIMEOUT within timeout + 5 s;
    its pool workers die with it."""
    running = sweep(["--workloads", "delayed-square", "--sizes", "2", "--delay", "1000", "--strategies", "pool-map",
                     "--workers", "2", "--repeat", "1", "--warmup", "0", "--timeout", "3"])
    pool_probe = wait_until(lambda: [p for p in running.probes() if len(p.children()) >= 2], 60,
                            "the pool-map probe with its 2 workers")
    family = [pool_probe[0], *pool_probe[0].children(recursive=True)]
    assert running.finish() == 1
    records = running.records()
    assert [r["status"] for r in records] == ["TIMEOUT", "TIMEOUT"]
    for record in records:
        assert 3e9 <= int(str(record["probe_wall_ns"])) <= 8e9
        assert "no result within 3 s" in str(record["error"])
    assert wait_until(lambda: _gone(family), 10, "the timed-out probe and its pool workers to go")


@pytest.mark.slow
def test_ctrl_c_exits_130_keeps_whole_records_and_resume_completes_without_duplicates(
        sweep: Callable[..., Sweep]) -> None:
    """SIGINT mid-sweep: exit 130, every line of records.jsonl parses, no probe left; --resume measures only
    the missing visits, so the run ends with every planned visit (7 cells x 2 rounds) exactly once."""
    running = sweep(["--workloads", "delayed-square", "--sizes", "4", "--delay", "0.02", "--strategies",
                     "threads,thread-pool,pool-map", "--workers", "1,2", "--repeat", "2", "--warmup", "0",
                     "--rounds", "2"])
    wait_until(lambda: len(running.records()) >= 2 and running.probes(), 60, "2 records and a running probe")
    probes = running.probes()
    running.proc.send_signal(signal.SIGINT)
    assert running.finish() == 130
    assert "--resume r" in running.log.read_text()
    done = running.records()  # json.loads of every line: none is torn
    assert 2 <= len(done) < 14
    assert _gone(probes)
    resumed = run_cli(["sweep", "--resume", "r", "--results", str(running.results)])
    assert resumed.rc == 0, resumed.err
    visits = [(json.dumps(r["cell"], sort_keys=True), r["visit"]) for r in running.records()]
    meta = json.loads((running.results / "r" / "meta.json").read_text())
    planned = {(json.dumps(c["cell"], sort_keys=True), c["visit"]) for c in meta["plan"]["cells"]}
    assert len(visits) == len(set(visits)) == 14
    assert set(visits) == planned and {v for _, v in visits} == {0, 1}
    assert meta["resumes"][0]["cells"] == 14 - len(done)


def test_a_probe_that_dies_with_a_traceback_is_crashed_with_its_stderr_tail() -> None:
    """A probe that fails on its request exits with a traceback: CRASHED, and the error carries stderr's tail."""
    bad = Cell("array-sum", {"size": "lots"}, "sequential", 1)
    with probes("exec") as (launcher, scratch):
        record = measure_isolated(PlannedCell(bad, "sequential"), Limits(1, 0, 60), launcher, scratch)
    assert record.status == "CRASHED"
    assert "exited with code 1" in str(record.error)
    assert "BadValue" in str(record.error) and "lots" in str(record.error)


def _wchan(proc: psutil.Process) -> str:
    try:
        return Path(f"/proc/{proc.pid}/wchan").read_text()
    except OSError:
        return ""


def _pool_workers(sweep: Sweep) -> list[psutil.Process]:
    """The probe's worker processes (its children but multiprocessing's and loky's helpers)."""
    found = []
    for probe in sweep.probes():
        try:
            children = probe.children()
        except psutil.NoSuchProcess:  # this probe ended between the listing and now: the next poll sees its successor
            continue
        with_cmd = [(k, proc_text(k)) for k in children]
        found += [k for k, cmd in with_cmd if cmd is not None and not is_lifetime_helper(cmd)]
    return found


# Where a worker is when it is killed: in a task (the cell's delayed-square items sleep), or idle, blocked
# reading the pool's task queue (a blocking read, or loky's poll with a timeout), which it does holding the
# queue's read lock (the kill that hung Pool.terminate).
BUSY, IDLE = ("hrtimer_nanosleep",), ("pipe_read", "poll")
KILL_MOMENTS = {"warmup": (BUSY, 0.0), "mid-map": (BUSY, 0.9), "idle-between-tasks": (IDLE, 0.9)}


def _in(state: tuple[str, ...], proc: psutil.Process) -> bool:
    return any(where in _wchan(proc) for where in state)


def _victim(sweep: Sweep, state: tuple[str, ...], after: float) -> psutil.Process:
    """The first worker seen in `state` at least `after` seconds after a worker was first seen in a task."""
    first_task = wait_until(lambda: [w for w in _pool_workers(sweep) if _in(BUSY, w)], 60, "a worker in a task")
    assert first_task
    started = time.monotonic()

    def look() -> psutil.Process | None:
        if time.monotonic() - started < after:
            return None
        return next((w for w in _pool_workers(sweep) if _in(state, w)), None)
    return wait_until(look, 30, f"a worker in {state}")


@pytest.mark.slow
# Each strategy once and each moment once (a Latin square, not the 3 x 3 product): the moments exercise the
# probe's death watch, the strategies their own pools; 9 cases took ~90 s of the suite for no new path.
@pytest.mark.parametrize(("strategy", "moment"), [("pool-map", "warmup"), ("process-pool-executor", "mid-map"),
                                                  ("joblib", "idle-between-tasks")])
def test_a_pool_worker_killed_in_a_sweep_is_crashed_with_its_pid_and_signal_within_10_s(
        sweep: Callable[..., Sweep], strategy: str, moment: str) -> None:
    """SIGKILL to one worker of a pool-like strategy, in a task or idle on the task queue, during the warmup or a
    timed repeat: the sweep records CRASHED naming that worker's pid and SIGKILL within 10 s, not a TIMEOUT."""
    if strategy == "joblib" and not installed("joblib"):
        skip_unless_no_skip("joblib is not installed")
    running = sweep(["--workloads", "delayed-square", "--sizes", "3", "--delay", "0.2", "--strategies", strategy,
                     "--workers", "2", "--repeat", "6", "--warmup", "1", "--timeout", "60"])
    state, after = KILL_MOMENTS[moment]
    victim = _victim(running, state, after)
    family = [*victim.parent().children(recursive=True)] if victim.parent() else []
    os.kill(victim.pid, signal.SIGKILL)
    mine = wait_until(lambda: [r for r in running.records() if r["cell"]["strategy"] == strategy], 10,
                      "the crashed cell's record")
    assert mine[0]["status"] == "CRASHED", mine[0]["error"]
    assert f"pid {victim.pid} was killed by SIGKILL" in str(mine[0]["error"])
    assert running.finish() == 1
    assert wait_until(lambda: _gone(family), 10, "the crashed cell's workers to go")


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["fork", "exec"])
def test_a_killed_driver_leaves_no_probe_running_and_the_next_sweep_removes_its_scratch(
        tmp_path: Path, isolation: str) -> None:
    """SIGKILL to the sweep driver mid-cell (a cell that would hang for hours): its probe and the probe's pool
    workers stop within seconds instead of running on with no deadline, and the next sweep (--resume) removes
    the dead driver's parbench-probe-* scratch folder."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    results = tmp_path / "results"
    flags = {"workloads": "delayed-square", "strategies": "pool-map", "workers": "2", "repeat": "1", "warmup": "0",
             "rounds": "1"}
    seed = _seed_putting_first("pool-map", flags, [ParamFlag("--sizes", "size", ("2",)),
                                                   ParamFlag("--delay", "delay", ("1000",))])
    running = Sweep(results, ["--workloads", "delayed-square", "--sizes", "2", "--delay", "1000", "--strategies",
                              "pool-map", "--workers", "2", "--repeat", "1", "--warmup", "0", "--timeout", "600",
                              "--isolation", isolation, "--seed", str(seed)], env=env)
    driver = running.proc
    try:
        probe = wait_until(lambda: [p for p in running.probes() if len(p.children()) >= 2], 60,
                           "the pool-map probe with its 2 workers")[0]
        family = [probe, *probe.children(recursive=True)]
        assert [p.name for p in scratch.glob(f"parbench-probe-{driver.pid}-*")]
        driver.kill()
        driver.wait()
        assert wait_until(lambda: _gone(family), 15, "the orphaned probe and its workers to stop")
        # Also what the probe forked after `family` was listed (a pool respawns workers while it is terminated).
        assert wait_until(lambda: not _in_group(probe.pid), 15, "every process of the probe's group to stop")
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    dead = list(scratch.glob(f"parbench-probe-{driver.pid}-*"))
    assert dead  # left behind: nothing ran to remove it
    resumed = subprocess.Popen([sys.executable, "-m", "parbench", "sweep", "--resume", "r", "--results", str(results)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: not any(p.exists() for p in dead), 60, "the dead driver's scratch folder to go")
        resumed.send_signal(signal.SIGINT)  # the resumed cell would hang too: stop it
        assert resumed.wait(60) == 130
    finally:
        if resumed.poll() is None:
            resumed.kill()
            resumed.wait()
    assert not list(scratch.glob("parbench-probe-*"))
