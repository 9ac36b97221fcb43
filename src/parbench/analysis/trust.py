"""How much to trust a run (DESIGN 5b, "say how much to trust the run"): one line, first, in the terminal
summary and at the top of the report.

It counts what the measurement itself saw: timed repeats disturbed by other tenants (runner.neighbours),
SUSPECT cells (parbench.analysis.physics), how far the machine's speed drifted (the canary), and whether each
workload point's verdict rests on paired, clean cells. When most verdicts cannot be trusted, `advice()` says
so, with what to do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from parbench.analysis.physics import SUSPECT
from parbench.analysis.scaling import leader, point_of
from parbench.analysis.stats import MIN_CLEAN_PAIRS


@dataclass(frozen=True)
class Trust:
    """What the trust line says, as numbers."""

    repeats: int
    contaminated: float  # share of timed repeats (either side of a pair) disturbed by other tenants
    suspect: int
    cells: int
    drift: float  # the 90th percentile of visits' slowdown (canary vs the run's best): 1.0 is steady
    points: int
    trusted_points: int  # points whose verdict rests on paired, clean cells

    def line(self) -> str:
        return (f"Trust: {self.contaminated:.0%} of {self.repeats} timed repeats disturbed by other tenants; "
                f"{self.suspect} of {self.cells} cells SUSPECT (physically impossible, left out); machine speed "
                f"drift {self.drift:.2f}x (p90 of visits); {self.trusted_points} of {self.points} verdicts rest on "
                "paired, clean measurements.")

    @property
    def doubtful(self) -> bool:
        """Most verdicts cannot be trusted: the first thing a reader must hear."""
        return self.points > 0 and self.trusted_points * 2 < self.points

    def advice(self) -> str | None:
        if not self.doubtful:
            return None
        return ("Most verdicts of this run cannot be trusted: the machine was shared or unsteady while it ran. "
                "Measure again on a quieter machine, with more visits (--rounds 5), or let each visit wait for "
                "idle CPUs (--quiet-wait 10).")


def _trusted(row: pd.Series) -> bool:
    """A parallel cell a verdict weighed is paired and has enough clean pairs."""
    clean = row.get("clean_pairs")
    return bool(row.get("paired")) and pd.notna(clean) and int(clean) >= MIN_CLEAN_PAIRS


def _point_trusted(rows: pd.DataFrame) -> bool:
    """The verdict at a point rests on the parallel cells it weighed (the leader and its closest rival, or the
    rival sequential was held against): all of them paired and clean."""
    found = leader(rows)
    weighed = [r for r in (found.best, found.runner_up) if r is not None and r["strategy"] != "sequential"]
    return bool(weighed) and all(_trusted(row) for row in weighed)


def assess(summary: pd.DataFrame, frame: pd.DataFrame) -> Trust:
    """The Trust of a summarised run (`summary`, parbench.analysis.stats.summarize) and its tidy `frame`."""
    if summary.empty:  # nothing measured yet (a run interrupted before its first cell ended)
        return Trust(0, 0.0, 0, 0, 1.0, 0, 0)
    timed = summary[summary["n"].fillna(0) > 0]
    repeats = int(timed["n"].sum())
    share = float(np.average(timed["contaminated_share"].fillna(0), weights=timed["n"])) if repeats else 0.0
    visits = frame.drop_duplicates(["key", "visit"]) if "visit" in frame else frame
    slowdown = pd.to_numeric(visits.get("slowdown", pd.Series(dtype=float)), errors="coerce").dropna()
    drift = float(np.percentile(slowdown, 90)) if len(slowdown) else 1.0
    points = summary["key"].map(point_of)
    verdicts = [_point_trusted(rows) for _, rows in summary.groupby(points, sort=False)]
    return Trust(repeats, share, int((summary["status"] == SUSPECT).sum()), len(summary), drift,
                 len(verdicts), sum(verdicts))
