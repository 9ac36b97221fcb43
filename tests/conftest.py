"""Shared fixtures: run the real CLI in a subprocess, and fail the session if it leaves anything behind."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from parbench.segments import PREFIX, leftover_segments

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture
def cli() -> object:
    return run_cli


def _session_pids() -> set[int]:
    me = psutil.Process()
    return {me.pid} | {p.pid for p in me.children(recursive=True)}


def _leaked_segments() -> list[str]:
    """parbench segments whose owner is this session or is dead (nobody will ever unlink them)."""
    mine = _session_pids()
    leaked = []
    for path in leftover_segments():
        owner = path.name[len(PREFIX):].split("-", 1)[0]
        if not owner.isdigit() or int(owner) in mine or not psutil.pid_exists(int(owner)):
            leaked.append(path.name)
    return leaked


# multiprocessing's own helpers live as long as the process that started them and exit with it.
_STDLIB_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


def _our_children() -> list[psutil.Process]:
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if not any(h in " ".join(proc.cmdline()) for h in _STDLIB_HELPERS):
                found.append(proc)
        except psutil.Error:
            pass
    return found


@pytest.fixture(scope="session", autouse=True)
def no_leftovers() -> Iterator[None]:
    """After the whole suite: no /dev/shm segment of ours and no child process of ours still alive."""
    yield
    children = _our_children()
    _, alive = psutil.wait_procs(children, timeout=5)
    leaked = _leaked_segments()
    problems = [f"process {p.pid} {' '.join(p.cmdline()[:4])}" for p in alive] + [f"segment {s}" for s in leaked]
    for proc in alive:
        proc.kill()
    assert not problems, "left behind after the suite: " + "; ".join(problems)
