"""Shared fixtures: run the real CLI in a subprocess, and fail the session if it leaves anything behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn, TypeVar

import psutil
import pytest

from parbench.processes import OWNER_ENV, alive, live_descendants, owned_by
from parbench.results.schema import Cell, Record
from parbench.segments import PREFIX, leftover_segments
from turns import check_group, close_turns, open_turns, turn_for

ROOT = Path(__file__).resolve().parent.parent
# The committed small run that report, statistics and store tests read.
FIXTURE = ROOT / "results" / "fixtures" / "small"
# The workloads and sizes the cluster strategies' exact-result tests run (dispy and dask alike).
CLUSTER_WORKLOADS: dict[str, dict[str, object]] = {
    "array-sum": {"size": 200_000},
    "delayed-square": {"size": 8, "delay": 0.01},
}
# CI's "run everything" switch (.ci/run, ci.yml): what this suite would skip, such as the browser test without a
# browser, fails instead. The bench harness reads the same variable.
NO_SKIP_ENV = "PARBENCH_NO_SKIP"
# pytest-timeout allows each test 120 s (pyproject.toml), its fixtures' setup included. A test that uses a fixture
# running a whole sweep is marked @needs_a_sweep (SWEEP_TIMEOUT + 60 s), and the sweep's subprocess stops at
# SWEEP_TIMEOUT, below it (a quick sweep takes about 15 s).
SWEEP_TIMEOUT = 180
needs_a_sweep = pytest.mark.timeout(SWEEP_TIMEOUT + 60)

T = TypeVar("T")


def pytest_configure(config: pytest.Config) -> None:
    open_turns(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    close_turns(config)


def pytest_runtest_setup(item: pytest.Item) -> None:
    check_group(item)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[object]:
    """Each test takes its turn (tests/turns.py: a `serial` test runs alone under xdist), fixtures included;
    outermost, so that waiting for a turn does not count against the test's own timeout."""
    with turn_for(item):
        return (yield)


def skip_unless_no_skip(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it when CI set PARBENCH_NO_SKIP=1 (everything must run there)."""
    if os.environ.get(NO_SKIP_ENV) == "1":
        pytest.fail(f"{NO_SKIP_ENV}=1 but {reason}")
    pytest.skip(reason)


def wait_until(predicate: Callable[[], T], timeout: float, what: str = "the condition") -> T:
    """Poll `predicate` every 20 ms until it returns something truthy, and return that; fail the test when
    `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def proc_text(proc: psutil.Process, field: Literal["cmdline", "name"] = "cmdline") -> str | None:
    """`proc`'s command line (joined by spaces) or name; None when it has exited (or is a zombie) by now, which
    any scan of a process's children can race with."""
    try:
        return " ".join(proc.cmdline()) if field == "cmdline" else proc.name()
    except psutil.NoSuchProcess:  # ZombieProcess included
        return None


@dataclass(frozen=True)
class Result:
    """What a CLI invocation did: exit code and both streams."""

    rc: int
    out: str
    err: str


def run_cli(args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 120,
            cwd: Path | None = None) -> Result:
    """`python -m parbench ARGS` in a fresh process, as a user would run it."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "parbench", *args], check=False, capture_output=True, text=True,
                          env=full_env, timeout=timeout, cwd=cwd)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Install the example plugin (examples/plugin: the workload and strategy docs/plugins.md documents) and the
    test suite's broken and fault-injecting plugins (tests/plugin_pkg) with pip, in one call, into a private
    directory; return the environment under which `python -m parbench` (and its worker processes) see them."""
    site = tmp_path_factory.mktemp("plugin-site")
    build = tmp_path_factory.mktemp("plugin-build")
    # Build from copies: an in-place build would write build/ and *.egg-info into the repository.
    sources = [shutil.copytree(ROOT / folder, build / name)
               for folder, name in (("examples/plugin", "example"), ("tests/plugin_pkg", "pkg"))]
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--target", str(site), *map(str, sources)],
                   check=True, capture_output=True, timeout=120)
    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary folder of this test's own as TMPDIR, for it and every process it starts: its checks for scratch
    left behind see only what it made, even with other tests running beside it (xdist). A short path: MPI and
    Ray put Unix sockets below TMPDIR."""
    folder = Path(tempfile.mkdtemp(prefix="pbt-"))
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _session_pids() -> set[int]:
    me = psutil.Process()
    return {me.pid} | {p.pid for p in me.children(recursive=True)}


def _owner(name: str) -> int:
    owner = name[len(PREFIX):].split("-", 1)[0]
    return int(owner) if owner.isdigit() else -1


def orphan_segments() -> list[str]:
    """parbench segments whose owner process is gone: nobody will ever unlink them. (Segments of other
    live processes, such as a concurrent test session, are theirs to clean.)"""
    return [p.name for p in leftover_segments() if not psutil.pid_exists(_owner(p.name))]


def _leaked_segments() -> list[str]:
    mine = _session_pids()
    return orphan_segments() + [p.name for p in leftover_segments() if _owner(p.name) in mine]


@pytest.fixture(scope="session", autouse=True)
def no_leftovers() -> Iterator[None]:
    """After the whole suite: no /dev/shm segment of ours and no child process of ours still alive."""
    yield
    children = live_descendants()
    _, alive = psutil.wait_procs(children, timeout=5)
    leaked = _leaked_segments()
    problems = [f"process {p.pid} {' '.join((proc_text(p) or '(exited)').split()[:4])}" for p in alive]
    problems += [f"segment {s}" for s in leaked]
    for proc in alive:
        proc.kill()
    assert not problems, "left behind after the suite: " + "; ".join(problems)


@dataclass(frozen=True)
class QuickRun:
    """A real quick-preset sweep: its run folder and what the sweep printed."""

    path: Path
    result: Result


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    """`parbench sweep --preset quick` once per session: reports, Markdown and the browser test read it, and the
    sweep itself writes its report.html. Every cell of the quick preset, visited once with 4 repeats (--rounds 1
    --repeat 4, about 20 s instead of 45): the report's content does not depend on how many repeats made each
    median. A test using it carries @needs_a_sweep: the first one to ask pays for the sweep within its own time
    limit."""
    results = tmp_path_factory.mktemp("quick")
    result = run_cli(["sweep", "--preset", "quick", "--rounds", "1", "--repeat", "4", "--results", str(results),
                      "--run-id", "quick", "--seed", "1"], timeout=SWEEP_TIMEOUT)
    assert result.rc == 0, result.err
    return QuickRun(results / "quick", result)


def _owner_tag(proc: psutil.Process) -> str | None:
    try:
        return proc.environ().get(OWNER_ENV)
    except psutil.Error:
        return None


def describe_alive(procs: Sequence[psutil.Process]) -> str:
    """'pid command line' of each process still running, for an assertion message ('' when none is)."""
    return "; ".join(f"{p.pid} {proc_text(p)}" for p in procs if alive(p) and proc_text(p) is not None)


@dataclass(frozen=True)
class KilledProbe:
    """A probe SIGKILLed mid-cell by kill_probe_mid_cell: its record and what ran for the cell at that moment."""

    record: Record
    pid: int
    processes: list[psutil.Process]
    commands: list[str]  # the command line of each, as it was at the kill


def kill_probe_mid_cell(cell: Cell, busy: str, settle: float = 0.0) -> KilledProbe:
    """Measure `cell` in a real probe, as a sweep does (exec isolation, the driver's cleanup after it), and
    SIGKILL the probe once a process it tagged as its own (parbench.processes.OWNER_ENV) has `busy` in its
    command line, `settle` seconds later. The processes noted then are the probe's descendants and tagged ones."""
    from parbench.runner.plan import PlannedCell
    from parbench.runner.sweep import Limits, measure_isolated, probes

    noted: list[psutil.Process] = []
    commands: list[str] = []
    failures: list[BaseException] = []

    def look() -> int | None:
        # Only this test's probe (a child of this process): another test's probe running the same strategy beside
        # it under xdist is none of its business.
        ours = {str(child.pid) for child in psutil.Process().children(recursive=True)}
        for proc in psutil.process_iter():
            tag = _owner_tag(proc)
            if tag in ours and busy in (proc_text(proc) or ""):
                return int(tag)
        return None

    def killer() -> None:
        try:
            pid = wait_until(look, 90, f"a process of the probe running {busy!r}")
            time.sleep(settle)
            probe = psutil.Process(pid)
            noted.extend({p.pid: p for p in [probe, *probe.children(recursive=True), *owned_by(pid)]}.values())
            commands.extend(proc_text(p) or "" for p in noted)
            probe.kill()
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    with probes("exec") as (launcher, scratch):
        record = measure_isolated(PlannedCell(cell, "distributed"), Limits(3, 1, 120), launcher, scratch)
    thread.join(10)
    if failures:
        raise failures[0]
    return KilledProbe(record, noted[0].pid, noted, commands)


# The interpreter the GIL tests measure under besides the running one: 3.13 (under pyenv on these machines;
# scripts/test has uv fetch one where none is found), or 3.12 when the suite itself runs under 3.13.
OTHER_PYTHON = "3.12" if sys.version_info[:2] == (3, 13) else "3.13"


@pytest.fixture(scope="session")
def py313_envs() -> Path:
    """The environments folder holding OTHER_PYTHON's (3.13's), built once (about 40 s) and reused across sessions while
    pyproject.toml is unchanged (runner.environments' stamp): it lives beside this test environment. scripts/test
    builds it with .venv (ensure_other_python); a bare pytest run builds it here."""
    from parbench.runner.environments import ensure, resolve

    folder = Path(sys.prefix) / "parbench-envs"
    ensure(resolve(OTHER_PYTHON), folder, ())
    return folder
