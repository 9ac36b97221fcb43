"""Gate for array-sum: every available strategy x workers, on the pure-Python and the numpy kernel.

Sizes keep a round around 10-100 ms here, so the whole module takes seconds: CPU-bound work where
process start-up, pickling and copies show against the GIL-bound pure-Python loop.
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from harness import Case, bench_cell, strategy_params

CASES = (
    Case("python", "array-sum", {"size": 500_000, "kernel": "python"}, rounds=15),
    Case("numpy", "array-sum", {"size": 2_000_000, "kernel": "numpy"}, rounds=15),
)


@pytest.mark.parametrize(("case", "strategy", "workers"), strategy_params(CASES))
def test_array_sum(benchmark: BenchmarkFixture, case: Case, strategy: str, workers: int) -> None:
    """Every timed round of the cell returns the exact sum."""
    bench_cell(benchmark, case, strategy, workers)
