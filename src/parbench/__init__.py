"""parbench: benchmark ways of going parallel in Python, and learn which one wins, by how much, and why.

The API (parbench.api): `run(workload, strategy, ...)` measures one cell; `sweep(...)` plans, measures and
analyses a sweep and returns a `Run`; `open_run(path)` opens a finished one; a `Run` has `.meta`, `.frame`,
`.summary`, `.verdicts`, `.report()`, `.compare()` and shows itself in a notebook. Bad input raises a
`UserError` subclass with the CLI's one-line message. `load(run)` and `summarize(df)` are the frames alone.
pandas and scipy are imported only when needed, so `import parbench` (and `parbench list`) stays cheap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

from parbench.api import Run, open_run, resume, run, sweep
from parbench.errors import (
    BadSpec,
    BadValue,
    CannotRunHere,
    RunFolderError,
    StrategyError,
    UnknownName,
    UserError,
)
from parbench.version import __version__

__all__ = ["BadSpec", "BadValue", "CannotRunHere", "Run", "RunFolderError", "StrategyError", "UnknownName",
           "UserError", "__version__", "load", "open_run", "resume", "run", "summarize", "sweep"]


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
