"""A strategy's cells judged together (analysis.strategywide): both sides of each rule, on synthetic relative times."""

from __future__ import annotations

import numpy as np
import pytest

from parbench.analysis.strategywide import Judged, median_ci, series_changes

FACTOR, ALPHA = 1.10, 0.01


def _cells(series: str, shifts: list[float], spread: float = 0.35, n: int = 14, seed: int = 0) -> list[Judged]:
    """One cell per shift: `n` relative times with a log-normal spread (pool-map x2's, about), and a copy of them
    times the shift (as tests/test_compare.py's scaled run): each cell's ratio of medians is exactly its shift."""
    rng = np.random.default_rng(seed)
    cells = []
    for i, shift in enumerate(shifts):
        base = np.exp(rng.normal(0.0, spread, n))
        cells.append(Judged(f"{series}-{i}", series, shift, base, base * shift))
    return cells


def test_median_ci_is_the_order_statistic_interval() -> None:
    assert median_ci([1, 2, 3, 4]) is None  # [min, max] of 4 covers the median with probability 0.875 only
    assert median_ci([5, 1, 4, 2, 3]) == (1, 5)  # 0.9375
    assert median_ci(list(range(1, 9))) == (2, 7)  # 1 - 2 x 9/256 = 0.93; (3, 6) would be 0.71
    assert median_ci(list(range(1, 21))) == (6, 15)  # 0.959; (7, 14) would be 0.885


def test_a_strategy_slowed_in_every_cell_moves_though_no_cell_shows_it_alone() -> None:
    from scipy import stats

    cells = _cells("slow", [1.3] * 8) + _cells("same", [1.0] * 8, seed=1)
    alone = [stats.mannwhitneyu(c.base, c.new).pvalue for c in cells[:8]]
    assert max(alone) > ALPHA  # some cell alone is not significant
    [moved] = series_changes(cells, FACTOR, ALPHA)
    assert (moved.series, moved.way, moved.cells, moved.beyond) == ("slow", "regressed", 8, 8)
    assert moved.ratio == pytest.approx(1.3) and moved.q_value < ALPHA
    [faster] = series_changes(_cells("fast", [1 / 1.3] * 8), FACTOR, ALPHA)
    assert faster.way == "improved"


def test_a_few_cells_moving_is_the_machine_not_the_strategy() -> None:
    """Six of eight cells 1.3x slower: the pooled test is sure, but the cells' CI reaches below the factor."""
    assert series_changes(_cells("some", [1.3] * 6 + [1.0] * 2), FACTOR, ALPHA) == []
    assert series_changes(_cells("most", [1.3] * 7 + [1.0]), FACTOR, ALPHA)[0].beyond == 7


def test_a_shift_within_the_factor_or_too_few_cells_does_not_move() -> None:
    assert series_changes(_cells("small", [1.08] * 8, spread=0.01), FACTOR, ALPHA) == []  # sure, but small
    assert series_changes(_cells("four", [1.5] * 4, spread=0.01), FACTOR, ALPHA) == []  # too few to judge
    assert series_changes(_cells("five", [1.5] * 5, spread=0.01), FACTOR, ALPHA)[0].cells == 5


def test_the_pooled_evidence_must_survive_the_adjustment() -> None:
    """Eight cells 1.3x apart but with a spread no 3 pairs each can see through: not moved."""
    assert series_changes(_cells("noisy", [1.3] * 8, spread=1.5, n=3), FACTOR, ALPHA) == []
