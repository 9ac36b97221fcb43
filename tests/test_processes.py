"""What the leftover checks (tests' and bench's session fixtures) count as left behind."""

from __future__ import annotations

import subprocess
import sys
import time

from parbench.processes import live_descendants


def _sleeper(tag: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"import time  # {tag}\ntime.sleep(30)"])


def test_a_running_child_is_listed_a_helper_and_a_zombie_are_not() -> None:
    plain = _sleeper("plain")
    helper = _sleeper("loky.backend.resource_tracker")
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while done.pid in [p.pid for p in live_descendants()] and time.monotonic() < deadline:
            time.sleep(0.05)  # until it has exited: a zombie, not yet reaped
        pids = [p.pid for p in live_descendants()]
        assert plain.pid in pids
        assert helper.pid not in pids and done.pid not in pids
    finally:
        for proc in (plain, helper, done):
            proc.kill()
            proc.wait()
