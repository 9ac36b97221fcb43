"""The CPUs this process may use: a fact about the machine that the runner, the records and the CLI all read."""

from __future__ import annotations

import os

import psutil


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask), sorted."""
    try:
        return sorted(psutil.Process().cpu_affinity() or [])
    except (AttributeError, psutil.Error):  # no affinity support on this platform: every CPU
        return list(range(os.cpu_count() or 1))
