"""Which pool worker died and how, for the pools that only say "broken" (or say nothing and wait).

A pool started in setup keeps its workers for the whole cell. When one is killed, multiprocessing.Pool
replaces it and waits forever for the task it held; ProcessPoolExecutor and loky say the pool broke but not
which worker died or of what. The workers alive after setup are noted, and their exit codes name the dead.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import signal
import threading
import time
from collections.abc import Iterable
from typing import Any, Protocol

from parbench.strategies.base import describe_exit


class Member(Protocol):
    """A multiprocessing.Process (or loky's): a pid and, once it ended, an exit code."""

    @property
    def pid(self) -> int | None: ...
    @property
    def exitcode(self) -> int | None: ...


def dead_member(members: Iterable[Member]) -> str | None:
    """'pool worker pid N was killed by SIGKILL' for the first member that ended, or None when all live.

    A pool that noticed a death terminates its other workers (SIGTERM): a death by another cause is the
    one that broke it, so it is named first.
    """
    ended = [(proc.pid, proc.exitcode) for proc in members if proc.exitcode is not None]
    ended.sort(key=lambda found: found[1] == -signal.SIGTERM)
    if not ended:
        return None
    pid, code = ended[0]
    return f"pool worker pid {pid} {describe_exit(code)}"


def await_dead_member(members: Iterable[Member], timeout: float = 2.0) -> str | None:
    """dead_member, once the death that broke the pool is reaped. A pool reports the death while its own thread
    may be reaping that worker (its exit code reads None until then) and may already have reaped the workers it
    then ended with SIGTERM: so wait for a death by another signal, or for every member to have ended."""
    listed = list(members)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = [proc.exitcode for proc in listed]
        if any(code not in (None, -signal.SIGTERM) for code in codes) or None not in codes:
            break
        time.sleep(0.01)
    return dead_member(listed)


class DeathWatch:
    """Notes which of a pool's workers died first, the moment it dies: a pool that then kills the others with
    the same signal (loky, SIGKILL) leaves no other way to tell the first death from the ones it caused."""

    def __init__(self, members: Iterable[Any]) -> None:
        self.members = list(members)
        self.first: list[Any] = []
        if self.members:
            threading.Thread(target=self._watch, name="pool-death-watch", daemon=True).start()

    def _watch(self) -> None:
        by_sentinel = {proc.sentinel: proc for proc in self.members}
        with contextlib.suppress(OSError, ValueError):  # sentinels closed by the pool's shutdown
            self.first = [by_sentinel[s] for s in multiprocessing.connection.wait(list(by_sentinel))]

    def death(self, timeout: float = 2.0) -> str | None:
        """dead_member of the first to die (once reaped), or of any member."""
        return await_dead_member(self.first or self.members, timeout)


def end_broken_pool(pool: Any, members: Iterable[Any], grace: float = 5.0) -> None:
    """Pool.terminate() after a worker died, without hanging. terminate() first takes the task queue's read
    lock, which an idle worker holds while it waits for its next task: a worker killed then never releases
    it. So terminate() runs in a thread while every worker (the pool's replacements included) is killed and
    the lock, once no live worker can hold it, is freed; after `grace` seconds the pool is left to the
    process's end (the driver ends the probe's whole process group)."""
    ender = threading.Thread(target=pool.terminate, name="end-broken-pool", daemon=True)
    ender.start()
    deadline = time.monotonic() + grace
    while ender.is_alive() and time.monotonic() < deadline:
        for proc in [*members, *pool._pool]:  # private, but the only handle on the replacements
            with contextlib.suppress(OSError, ValueError, AssertionError):
                proc.kill()
                proc.join(0.05)
        # Free or not, it ends up free: held by a dead worker, it never would be.
        lock = pool._inqueue._rlock
        lock.acquire(block=False)
        lock.release()
        ender.join(0.05)
    if not ender.is_alive():
        pool.join()
