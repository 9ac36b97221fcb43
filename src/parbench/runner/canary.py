"""The canary: a fixed pure-Python loop timed on each CPU a probe holds, before and after its cell.

Shared and virtual machines do not run at one speed: here, a VM's CPU ran 2.4x slower for seconds at a time
with no steal time reported, and every repeat of a cell measured then was 2.4x slower. A timing cannot tell
that from a slow strategy; the canary can. The driver keeps the fastest canary of the run as the machine's
own speed, and a visit whose canary ran much slower than that is measured again later (runner.sweep).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence

LOOP = 20_000  # about a millisecond of the python kernel's loop
TRIES = 3  # the best of a few: a canary measures the CPU, not one interruption


def _loop() -> int:
    total = 0
    for x in range(LOOP):
        total += x
    return total


def _best_ns() -> int:
    best = None
    for _ in range(TRIES):
        t0 = time.perf_counter_ns()
        _loop()
        elapsed = time.perf_counter_ns() - t0
        best = elapsed if best is None else min(best, elapsed)
    assert best is not None
    return best


def canary_ns(cpus: Sequence[int]) -> int:
    """The slowest CPU's best loop time (ns): the cell's work waits for its slowest CPU. Affinity is restored."""
    try:
        held = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return _best_ns()
    slowest = 0
    try:
        for cpu in cpus or sorted(held):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, {cpu})
            slowest = max(slowest, _best_ns())
    finally:
        os.sched_setaffinity(0, held)
    return slowest


def slowdown(canary: int | None, reference: int | None) -> float:
    """How much slower than the machine's best the CPUs ran (1.0: at its best; 1.0 when unknown)."""
    if not canary or not reference:
        return 1.0
    return max(1.0, canary / reference)
