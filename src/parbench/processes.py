"""Which descendants of a process are parbench's leftovers, and which are helpers that are not.

multiprocessing's resource tracker and fork server, and loky's resource tracker (joblib), live as long as
the process that started them and exit with it: a test session or a bench run that used them still has
them at its end, by design. Anything else still alive then was left behind.
"""

from __future__ import annotations

import psutil

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
