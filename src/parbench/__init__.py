"""parbench: benchmark ways of going parallel in Python, and learn which one wins, by how much, and why.

`parbench.load(run)` reads a run folder into a tidy pandas DataFrame (one row per timed repeat) and
`parbench.summarize(df)` turns it into one row per cell with statistics and speedups. Both import pandas
and scipy only when called, so `import parbench` (and `parbench list`) stays cheap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__version__ = "0.1.0"
__all__ = ["__version__", "load", "summarize"]


def load(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A run folder (or its records.jsonl) as a tidy DataFrame; see parbench.results.tidy for the columns."""
    from parbench.results.store import load as load_run

    return load_run(path)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: median, IQR, CI, CV, outliers, speedups...; see parbench.analysis.stats."""
    from parbench.analysis.stats import summarize as summarize_run

    return summarize_run(df)
