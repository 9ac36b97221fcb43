"""A strategy's cells judged together: the gate's second look, after each cell on its own (analysis.compare).

A change to a strategy's code moves every cell of it. One cell's dozen pairs may be too few to see a 1.3x
slowdown through that strategy's own jitter (pool-map x2 on array-sum 1e4: paired ratios spread by 40% around
their median, wake-ups across two vCPUs), but its eight cells together are not. Per series (a strategy with its
start method and options) with enough paired cells in both runs:

- evidence: each cell's one-sided Mann-Whitney p-value, in the direction of the series' median ratio, combined
  with Stouffer's z (the cells are separate probes: independent measurements), doubled for the direction read
  off the data, then adjusted with Benjamini-Hochberg over the series compared;
- size, with the cells as units: a distribution-free CI of the median of the cells' ratios (order statistics,
  at least COVERAGE) must lie wholly beyond the factor. With eight cells that is seven of them. A machine whose
  speed moved between the runs moves some cells of a strategy more than others; a code change moves them all,
  and the pooled test alone would call the first a change too.

A series that passes both moved; its cells beyond the factor the same way are flagged with it, whatever their
own q. Fewer than five cells cannot reach COVERAGE: such a series is only ever judged cell by cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from parbench.analysis.stats import adjusted

COVERAGE = 0.90


@dataclass(frozen=True)
class Judged:
    """One paired cell as compare judged it: its series, its ratio of medians and its relative times."""

    key: str
    series: str
    ratio: float
    base: np.ndarray
    new: np.ndarray


@dataclass(frozen=True)
class SeriesChange:
    """A series whose cells moved together beyond the factor."""

    series: str
    way: Literal["regressed", "improved"]
    cells: int
    beyond: int  # cells beyond the factor in that direction
    ratio: float  # the median of its cells' ratios
    ci_low: float
    ci_high: float
    q_value: float

    def text(self, label: str) -> str:
        way = "slower" if self.way == "regressed" else "faster"
        ci = f"{COVERAGE:.0%} CI over its cells {self.ci_low:.3f}-{self.ci_high:.3f}"
        return (f"{label}: {self.beyond} of its {self.cells} cells {way}, median ratio {self.ratio:.3f} ({ci}), "
                f"combined q {self.q_value:.2g}")


def median_ci(values: Sequence[float], coverage: float = COVERAGE) -> tuple[float, float] | None:
    """The order-statistic CI of the median: the narrowest [x(j), x(n+1-j)] covering it with probability at least
    `coverage` whatever the distribution (sign test); None when even [min, max] covers less (n < 5 at 90%)."""
    x, n = np.sort(np.asarray(values, dtype=float)), len(values)
    best = None
    for j in range(1, n // 2 + 1):
        if 1 - 2 * stats.binom.cdf(j - 1, n, 0.5) < coverage:
            break
        best = (float(x[j - 1]), float(x[n - j]))
    return best


def combined_p(cells: Sequence[Judged], slower: bool) -> float:
    """Two-sided p of Stouffer's z over the cells' one-sided Mann-Whitney p-values in one direction."""
    side = "greater" if slower else "less"
    p = [float(stats.mannwhitneyu(c.new, c.base, alternative=side).pvalue) for c in cells]
    z = float(np.sum(stats.norm.isf(np.clip(p, 1e-300, 1.0)))) / math.sqrt(len(p))
    return min(1.0, 2 * float(stats.norm.sf(z)))


def series_changes(cells: Sequence[Judged], factor: float, alpha: float) -> list[SeriesChange]:
    """The series whose cells moved together beyond `factor` (module docstring)."""
    groups: dict[str, list[Judged]] = {}
    for cell in cells:
        groups.setdefault(cell.series, []).append(cell)
    found = []
    for series, group in groups.items():
        ratios = [c.ratio for c in group]
        ci = median_ci(ratios)
        if ci is None:
            continue
        middle = float(np.median(ratios))
        found.append((series, group, middle, ci, combined_p(group, middle >= 1)))
    q = adjusted([f[-1] for f in found])
    return [_moved(series, group, middle, ci, qq, factor)
            for (series, group, middle, ci, _), qq in zip(found, q, strict=True)
            if qq < alpha and (ci[0] > factor or ci[1] < 1 / factor)]


def _moved(series: str, group: list[Judged], middle: float, ci: tuple[float, float], q: float,
           factor: float) -> SeriesChange:
    slower = ci[0] > factor
    beyond = sum(1 for c in group if (c.ratio > factor if slower else c.ratio < 1 / factor))
    return SeriesChange(series, "regressed" if slower else "improved", len(group), beyond, middle, *ci, q)
