"""Names of the /dev/shm segments parbench creates, and their cleanup.

Every segment is named `parbench-<owner pid>-<random>`: a driver that had to kill a probe (timeout,
Ctrl-C) removes what that probe left behind by its pid, without knowing which strategy made it.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

PREFIX = "parbench-"
SHM_DIR = Path("/dev/shm")


def segment_name(tag: str, owner: int | None = None) -> str:
    """A fresh, unique segment name owned by `owner` (default: this process)."""
    return f"{PREFIX}{owner or os.getpid()}-{secrets.token_hex(4)}-{tag}"


def leftover_segments(owner: int | None = None) -> list[Path]:
    """Segments in /dev/shm named by parbench (for `owner` only, when given)."""
    pattern = f"{PREFIX}{owner}-*" if owner is not None else f"{PREFIX}*"
    return sorted(SHM_DIR.glob(pattern)) if SHM_DIR.is_dir() else []


def remove_segments(owner: int) -> list[str]:
    """Unlink every segment left by process `owner`; returns the names removed."""
    removed = []
    for path in leftover_segments(owner):
        try:
            if path.is_dir():  # a folder of an engine's own segments (Open MPI's, see strategies.mpi_ranks)
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path.name)
        except FileNotFoundError:
            pass
    return removed


def remove_orphaned_segments() -> list[str]:
    """Unlink the segments whose owner process is gone (a probe killed outright): nobody else ever will."""
    removed = []
    for path in leftover_segments():
        owner = path.name[len(PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            removed += remove_segments(int(owner))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
