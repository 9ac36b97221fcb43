"""Tests that measure the machine run alone when the suite runs on several pytest-xdist workers.

`./scripts/test` runs the suite on one xdist worker per CPU: most tests wait on processes, sockets and
timeouts, and two of them at a time finish the suite in far less time. A test marked `serial` measures the
machine (a CPU hog marking contaminated repeats, the notebook's winners, the bench gate) or scans every process
on it: another test running beside it would change what it measures or what it finds. So every test takes a
turn on a readers-writer lock around its whole protocol (its fixtures' setup and teardown included): ordinary
tests share it, a `serial` test holds it alone. A second lock, the turnstile, gives a waiting serial test
priority: no new ordinary test starts while it waits. The controller makes the locks' folder before it starts
the workers (they inherit its path in the environment) and removes it at the end. Without xdist (one process)
there is nothing to share.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import pytest

MARK = "serial"
FOLDER_ENV = "PARBENCH_TEST_TURNS"


@contextmanager
def turn(folder: Path, alone: bool) -> Iterator[None]:
    """Hold the suite's room shared, or alone when `alone`, for the duration."""
    with open(folder / "turnstile.lock", "a") as turnstile, open(folder / "room.lock", "a") as room:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        finally:
            if not alone:  # an ordinary test lets the next one through; a serial one keeps the door shut
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(room, fcntl.LOCK_UN)
            fcntl.flock(turnstile, fcntl.LOCK_UN)


def open_turns(config: pytest.Config) -> None:
    """On the xdist controller (`-n` given, not a worker): the locks' folder, for the workers to inherit."""
    if getattr(config, "workerinput", None) is None and config.pluginmanager.hasplugin("xdist") \
            and config.getoption("numprocesses", None):
        os.environ[FOLDER_ENV] = tempfile.mkdtemp(prefix="parbench-tests-")


def close_turns(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None and FOLDER_ENV in os.environ:
        shutil.rmtree(os.environ.pop(FOLDER_ENV), ignore_errors=True)


def turn_for(item: pytest.Item) -> AbstractContextManager[None]:
    """The item's turn under xdist (in the folder the controller made), else nothing."""
    folder = os.environ.get(FOLDER_ENV)
    if getattr(item.config, "workerinput", None) is None or not folder:
        return nullcontext()
    return turn(Path(folder), item.get_closest_marker(MARK) is not None)


def check_group(item: pytest.Item) -> None:
    """On an xdist worker under --dist loadgroup: fail a test whose `xdist_group` mark xdist ignored. xdist sends
    a group to one worker by a suffix it appends to each test's node id, and pytest 9.2 no longer reads the
    attribute pytest-xdist 3.8 writes it to: grouped tests then spread over the workers, and each worker
    measures a module's fixtures again (the quick run, the GIL sweep, the compared runs) without a word."""
    if getattr(item.config.option, "loadgroup", False) and item.get_closest_marker("xdist_group") \
            and "@" not in item.nodeid:
        pytest.fail(f"xdist_group ignored by this pytest-xdist under pytest {pytest.__version__}: see the pytest "
                    "pin in pyproject.toml", pytrace=False)
