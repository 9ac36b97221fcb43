"""Signal policy: the parent process owns interruption and cleans up; workers just die when told.

The parent turns SIGTERM into SystemExit so `finally` blocks (strategy teardown: stop workers, unlink
segments) run before it exits. Workers forked from it must not inherit that: they ignore SIGINT (the parent
stops them itself on Ctrl-C) and die at once on SIGTERM (how the parent stops a straggler).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def exit_cleanly_on_sigterm() -> None:
    """In the main process: SIGTERM unwinds the stack like Ctrl-C does, so teardown runs."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_exit)


def worker_signals() -> None:
    """In a worker process: leave Ctrl-C to the parent, and let SIGTERM kill at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
