"""What the leftover checks (tests' and bench's session fixtures) count as left behind."""

from __future__ import annotations

import subprocess
import sys

from conftest import wait_until
from parbench.processes import live_descendants


def _sleeper(tag: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"import time  # {tag}\ntime.sleep(30)"])


def test_a_running_child_is_listed_a_helper_and_a_zombie_are_not() -> None:
    plain = _sleeper("plain")
    helper = _sleeper("loky.backend.resource_tracker")
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # until it has exited: a zombie, not yet reaped
        wait_until(lambda: done.pid not in [p.pid for p in live_descendants()], 10, "the short child to exit")
        pids = [p.pid for p in live_descendants()]
        assert plain.pid in pids
        assert helper.pid not in pids and done.pid not in pids
    finally:
        for proc in (plain, helper, done):
            proc.kill()
            proc.wait()
