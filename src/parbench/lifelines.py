"""Tying a child process's life to its parent's, so that a parent killed outright (SIGKILL, OOM) leaves
nothing running that nobody will ever stop."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A preexec hook that has the kernel send `signum` to the child when the thread that started it dies
    (Linux; None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: the child must not dlopen between fork and exec
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signum)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook
