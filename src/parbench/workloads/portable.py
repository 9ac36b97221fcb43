"""Kernels in plain Python, importing nothing: the same code the workloads run, runnable where numpy cannot load.

A subinterpreter with its own GIL (PEP 684) loads only extension modules that support several interpreters, and
numpy's does not: parbench.strategies.subinterpreters runs this file's text in each interpreter and calls these
functions there. The workloads' python kernels call them too, so a speedup compares the very same loop.
"""

from __future__ import annotations

from collections.abc import Iterable


def sum_loop(view: Iterable[int] | None) -> int:
    """The course's plain loop over a memoryview of int64: one int at a time, holding the GIL."""
    total = 0
    for x in view or ():
        total += x
    return total


def sleep_squares(view: object, lo: int, hi: int, delay: float) -> int:
    """sum(x*x for x in range(lo, hi)), sleeping `delay` seconds before each item."""
    import time

    total = 0
    for x in range(lo, hi):
        if delay:
            time.sleep(delay)
        total += x * x
    return total
