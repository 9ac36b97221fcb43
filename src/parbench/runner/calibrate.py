"""Machine calibration at the start of a sweep: the primitives every strategy's overhead is made of.

Memory bandwidth (numpy sum over an array larger than the caches), the python kernel's loop per element,
process start+join per start method, Pipe round trip (small message) and throughput (1 MiB), and how much
longer than asked time.sleep sleeps. Under a second with fork alone; each figure is the median of a few
tries (the best for bandwidth). The figures also feed the sweep's time estimate.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from parbench.runner.canary import canary_ns

BANDWIDTH_ELEMENTS = 10_000_000  # 80 MB of int64: larger than any L3 cache of today
MIB = 2**20


def _noop() -> None:
    return None


def _echo(conn: multiprocessing.connection.Connection) -> None:
    while True:
        message = conn.recv_bytes()
        if not message:
            return
        conn.send_bytes(message)


def _median_ns(action: Callable[[], object], tries: int) -> int:
    times = []
    for _ in range(tries):
        t0 = time.perf_counter_ns()
        action()
        times.append(time.perf_counter_ns() - t0)
    return int(statistics.median(times))


def memory_bandwidth(tries: int = 5) -> float:
    """Bytes per second read by numpy's sum over 80 MB (the best of `tries`: bandwidth is a ceiling)."""
    data = np.ones(BANDWIDTH_ELEMENTS, dtype=np.int64)
    times = []
    for _ in range(tries):
        t0 = time.perf_counter_ns()
        data.sum()
        times.append(time.perf_counter_ns() - t0)
    return data.nbytes / (min(times) / 1e9)


def python_loop_ns(items: int = 1_000_000, tries: int = 3) -> float:
    """Nanoseconds per element of the python kernel's plain loop (the course's), median of `tries`."""
    view = memoryview(np.arange(items, dtype=np.int64))  # type: ignore[arg-type]

    def loop() -> int:
        total = 0
        for x in view:
            total += x
        return total

    return _median_ns(loop, tries) / items


def process_start_ns(method: str, tries: int = 3) -> int:
    """Start and join one Process that does nothing (after one untimed start: forkserver boots its server)."""
    ctx: Any = multiprocessing.get_context(method)  # typeshed's BaseContext lacks Process

    def once() -> None:
        proc = ctx.Process(target=_noop)
        proc.start()
        proc.join()

    once()
    return _median_ns(once, tries)


def pipe_costs(round_trips: int = 500, big_trips: int = 10) -> dict[str, float]:
    """Pipe round trip of an 8-byte message to a child and back (ns), and bytes/s for 1 MiB messages."""
    ctx: Any = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_echo, args=(child,), daemon=True)
    proc.start()

    def trip(message: bytes) -> bytes:
        parent.send_bytes(message)
        return bytes(parent.recv_bytes())

    try:
        small_ns = _median_ns(lambda: trip(b"x" * 8), round_trips)
        big_ns = _median_ns(lambda: trip(b"x" * MIB), big_trips)
        return {"pipe_round_trip_ns": small_ns, "pipe_bytes_per_s": 2 * MIB / (big_ns / 1e9)}
    finally:
        parent.send_bytes(b"")
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join()


def sleep_overshoot_ns(asked_s: float = 0.001, tries: int = 20) -> int:
    """How much longer than `asked_s` a time.sleep lasts (median, ns): the floor under delayed-square."""
    return _median_ns(lambda: time.sleep(asked_s), tries) - int(asked_s * 1e9)


def calibrate(start_methods: Sequence[str]) -> dict[str, Any]:
    """Every calibration figure, for meta.json."""
    t0 = time.perf_counter_ns()
    figures: dict[str, Any] = {"memory_bandwidth_bytes_per_s": memory_bandwidth(),
                               "python_loop_ns_per_item": python_loop_ns()}
    figures["process_start_ns"] = {m: process_start_ns(m) for m in start_methods}
    figures.update(pipe_costs())
    figures["sleep_overshoot_ns"] = sleep_overshoot_ns()
    # The machine's speed as the canary sees it: the best of several, on every usable CPU (runner.canary).
    figures["canary_ns"] = min(canary_ns([]) for _ in range(5))
    figures["calibration_ns"] = time.perf_counter_ns() - t0
    return figures
