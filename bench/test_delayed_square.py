"""Gate for delayed-square: every available strategy x workers on 8 items sleeping 5 ms each.

Sleep releases the GIL, so threads scale here; a round takes 20-60 ms, dominated by the sleeps and the
strategy's own overhead.
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from harness import Case, bench_cell, strategy_params

CASES = (Case("8x5ms", "delayed-square", {"size": 8, "delay": 0.005}, rounds=15),)


@pytest.mark.parametrize(("case", "strategy", "workers"), strategy_params(CASES))
def test_delayed_square(benchmark: BenchmarkFixture, case: Case, strategy: str, workers: int) -> None:
    """Every timed round of the cell returns the exact sum of squares."""
    bench_cell(benchmark, case, strategy, workers)
