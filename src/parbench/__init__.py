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
    """A run folder (or its records.jsonl) as a tidy DataFrame: one row per timed repeat.

    Columns: run_id, key (the cell's identity), workload, strategy, family, workers, start_method; the
    workload parameters by name (size, kernel, fill, delay, ...); the strategy options as option_<name>;
    status, error, visit (which of the cell's rounds), repeat, wall_ns, cpu_ns (user+sys of the probe and
    all its descendants), phase_<name>_ns (spawn, scatter, compute, gather), result, expected, ok,
    peak_rss, setup_ns, teardown_ns, warmup, cpus_granted, cpus, peak_rss_children, probe_wall_ns,
    canary_ns and slowdown (how fast the machine ran during the visit), started. A cell without timed
    repeats (TIMEOUT, CRASHED, UNAVAILABLE) keeps one row with its status and no times. Details:
    parbench.results.tidy.
    """
    from parbench.results.store import load as load_run

    return load_run(path)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of a load()ed run: the cell columns, status, n, median_ns, iqr_ns, mean_ns, stdev_ns,
    min_ns, ci_low_ns, ci_high_ns (bootstrap 95% CI of the median), cv, outliers (MAD), noisy, e2e_ns
    (setup + median + teardown), speedup (vs sequential), self_speedup (vs the strategy at 1 worker),
    efficiency, utilisation (cpu / (wall x workers)) and more; see parbench.analysis.stats."""
    from parbench.analysis.stats import summarize as summarize_run

    return summarize_run(df)
