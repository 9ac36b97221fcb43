"""Bench session plumbing: the machine id in pytest-benchmark's machine_info, the slowdown hook's validation,
and a check that no benchmark left a process or /dev/shm segment behind."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from harness import SLOWDOWN_ENV, parse_slowdown
from machine import machine_id
from parbench.processes import live_descendants
from parbench.segments import leftover_segments


def pytest_configure(config: pytest.Config) -> None:
    try:
        parse_slowdown(os.environ.get(SLOWDOWN_ENV, ""))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what imports and collection made (pytest, pandas, scipy, every strategy module: ~100k objects) out
    of the garbage collector's reach. Each round collects garbage before the cell and before its reference
    (untimed, so both start from a clean heap); over that heap one collection took ~55 ms here, three per round,
    more than the 5-40 ms runs themselves. Frozen, it takes microseconds."""
    gc.collect()
    gc.freeze()


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"parbench machine id: {machine_id()}"]
    if os.environ.get(SLOWDOWN_ENV):
        lines.append(f"{SLOWDOWN_ENV}={os.environ[SLOWDOWN_ENV]}: runs deliberately slowed (gate self-test)")
    return lines


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    machine_info["parbench_machine_id"] = machine_id()


@pytest.fixture(scope="session", autouse=True)
def no_leftovers() -> Iterator[None]:
    """After all benchmarks: no child process and no parbench segment of this process still alive."""
    yield
    _, alive = psutil.wait_procs(live_descendants(), timeout=5)
    problems = [f"process {p.pid}" for p in alive] + [f"segment {s.name}" for s in leftover_segments(os.getpid())]
    for proc in alive:
        proc.kill()
    assert not problems, "left behind by the benchmarks: " + "; ".join(problems)
