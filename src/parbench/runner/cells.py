"""Build a validated Cell from user input: every bad value becomes a one-line UserError."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Mapping

from parbench import registry
from parbench.errors import BadValue
from parbench.params import did_you_mean, resolve
from parbench.results.schema import Cell
from parbench.strategies.base import START_METHODS


def max_workers() -> int:
    """The most workers a cell may ask for: beyond 32 per CPU it is a typo, not an experiment."""
    return 32 * (os.cpu_count() or 1)


def check_workers(workers: int) -> int:
    limit = max_workers()
    if not 1 <= workers <= limit:
        raise BadValue(f"workers must be between 1 and {limit} (32 x {os.cpu_count()} CPUs), got {workers}")
    return workers


def check_start_method(method: str) -> str:
    if method not in START_METHODS:
        raise BadValue(f"unknown start method {method!r}; choose from {', '.join(START_METHODS)}"
                        + did_you_mean(method, START_METHODS))
    return method


def default_start_method() -> str:
    return multiprocessing.get_context().get_start_method()


def make_cell(workload: str, params: Mapping[str, object], strategy: str, workers: int,
              start_method: str | None = None, options: Mapping[str, object] | None = None) -> Cell:
    """Resolve names, parameters and options; the Cell holds only validated, canonical values."""
    resolved = registry.make_workload(workload, params).params()
    strategy_cls = registry.get_strategy(strategy)
    check_workers(workers)
    if strategy_cls.max_workers is not None and workers > strategy_cls.max_workers:
        raise BadValue(f"{strategy} runs on at most {strategy_cls.max_workers} worker(s), got {workers}")
    if start_method is not None:
        check_start_method(start_method)
        if not strategy_cls.uses_start_method:
            raise BadValue(f"a start method does not apply to {strategy}: it does not start its workers "
                            "with multiprocessing")
    elif strategy_cls.uses_start_method:
        start_method = default_start_method()
    opts = resolve(strategy_cls.options, options or {}, strategy)
    return Cell(workload, resolved, strategy, workers, start_method, opts)
