"""Which descendants of a process are parbench's leftovers, and which are helpers that are not.

multiprocessing's resource tracker and fork server, and loky's resource tracker (joblib), live as long as
the process that started them and exit with it: a test session or a bench run that used them still has
them at its end, by design. Anything else still alive then was left behind.

Engines that start daemons of their own (Ray's raylet and workers, MPI ranks under mpiexec) put them in new
process groups or sessions, and a probe killed by SIGKILL leaves them orphaned before the driver has noted
them. Such strategies start their helpers with OWNER_ENV set to the probe's pid: every process inheriting
that environment can then be found, and killed, by the pid of the process that owned it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

OWNER_ENV = "PARBENCH_OWNER"
SCRATCH_PREFIX = "parbench-"

LIFETIME_HELPERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver",
                    "loky.backend.resource_tracker")


def is_lifetime_helper(command: str) -> bool:
    """Whether a process's command line is one of LIFETIME_HELPERS."""
    return any(helper in command for helper in LIFETIME_HELPERS)


def alive(proc: psutil.Process) -> bool:
    """Running: an exited process stays a zombie until its parent (or init, slowly in some containers) reaps
    it, and counts as gone."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _left_behind(proc: psutil.Process) -> bool:
    """Alive and not a lifetime helper."""
    try:
        command = " ".join(proc.cmdline())
    except psutil.Error:
        return False
    return alive(proc) and not is_lifetime_helper(command)


def live_descendants(proc: psutil.Process | None = None) -> list[psutil.Process]:
    """Descendants of `proc` (default: this process) still running, other than the lifetime helpers."""
    try:
        children = (proc or psutil.Process()).children(recursive=True)
    except psutil.Error:
        return []
    return [child for child in children if _left_behind(child)]


def _owner_of(proc: psutil.Process) -> str | None:
    try:
        return proc.environ().get(OWNER_ENV)
    except psutil.Error:  # exited, or not ours to read
        return None


def owned_by(owner: int) -> list[psutil.Process]:
    """Live processes started with OWNER_ENV=`owner` in their environment (`owner` itself excluded)."""
    tag = str(owner)
    return [proc for proc in psutil.process_iter() if proc.pid != owner and _owner_of(proc) == tag and alive(proc)]


@contextlib.contextmanager
def environment(changes: dict[str, str]) -> Iterator[None]:
    """Set environment variables for what this process starts meanwhile; restored afterwards."""
    saved = {name: os.environ.get(name) for name in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def scratch_dir(tag: str) -> Path:
    """A fresh folder for an engine's files, named after this process so a driver can remove it by pid."""
    return Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{tag}-{os.getpid()}-"))


def remove_scratch(owner: int) -> list[str]:
    """Remove every scratch folder process `owner` made (any tag); returns their names."""
    found = [p for p in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-{owner}-*") if p.is_dir()]
    for path in found:
        remove_tree(path)
    return [p.name for p in found]


def remove_tree(path: Path, tries: int = 10, pause: float = 0.1) -> None:
    """Remove a scratch folder that an engine's exiting processes may still write into: Ray's agents, which do
    not carry OWNER_ENV, outlive its shutdown by a moment and add a log file while rmtree walks the tree, leaving
    the folder behind. Tried again for up to `tries` x `pause` seconds; what is left after that stays."""
    for _ in range(tries):
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(pause)
