"""Ctrl-C and SIGTERM: the exception they become, and holding them off while something must not be cut.

A sweep turns SIGINT and SIGTERM into Interrupted (exit 130 or 143), so the driver can stop its probe,
clean up and say how to resume. Writing a record or cleaning up after a probe runs with both signals held: a
second Ctrl-C waits until the line is whole and the probe's processes are gone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

HELD = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The user (SIGINT) or the system (SIGTERM) asked the sweep to stop."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within: SIGINT and SIGTERM raise Interrupted. The previous handlers come back after."""
    previous = {s: signal.signal(s, _raise) for s in HELD}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Within: SIGINT and SIGTERM are noted, not acted on; the first one is raised again on the way out.

    Python-level handlers rather than a signal mask: a mask holds only the calling thread, and the kernel
    may hand a process signal to another one (rich's refresh thread), whose handler would still interrupt.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; it is also the only one Python interrupts
        return
    pending: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in HELD}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            signal.raise_signal(pending[0])


def _default_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@functools.cache
def default_sigterm_in_forked_children() -> None:
    """Forked children start with the default SIGTERM (die at once), whatever handler the parent set.

    With an inherited Python-level handler, a SIGTERM landing just before a blocking lock wait is noted but
    never acted on, and Pool.terminate() then joins that worker forever. Registered once per process.
    """
    os.register_at_fork(after_in_child=_default_sigterm)


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def exit_cleanly_on_sigterm() -> None:
    """In a command's main process: SIGTERM unwinds the stack like Ctrl-C does, so teardown runs."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_exit)
        default_sigterm_in_forked_children()


def worker_signals() -> None:
    """In a worker process (also spawned ones): leave Ctrl-C to the parent, let SIGTERM kill at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
