"""A probe whose driver is gone: nobody will read its record or stop it at its timeout, so it is stopped now,
as the driver would have stopped it (SIGTERM to its group so its strategy tears down, then SIGKILL); and the
scratch folders of drivers that were killed outright, removed by the next sweep."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
from pathlib import Path

import psutil

# As the driver allows (runner.sweep.TERM_GRACE_S): time for the strategy's teardown.
TERM_GRACE_S = 2.0
SCRATCH_PREFIX = "parbench-probe-"
_SCRATCH = re.compile(rf"{SCRATCH_PREFIX}(\d+)-.+")


def _reaped_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        time.sleep(0.02)
    return False


def stop_orphaned_probe(pid: int) -> None:
    """In the probe server: SIGTERM the probe's process group, then SIGKILL what is left of it; reap the probe."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    if _reaped_within(pid, TERM_GRACE_S):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # workers the probe left
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def scratch_prefix() -> str:
    """The prefix of this driver's scratch folder: it names the driver, so a later sweep can tell it is dead."""
    return f"{SCRATCH_PREFIX}{os.getpid()}-"


def remove_dead_scratch(folder: Path | None = None) -> list[Path]:
    """Remove the scratch folders of sweep drivers that no longer run (killed before they could)."""
    removed = []
    for path in Path(folder or tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        found = _SCRATCH.fullmatch(path.name)
        if found is None or not path.is_dir() or psutil.pid_exists(int(found.group(1))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
