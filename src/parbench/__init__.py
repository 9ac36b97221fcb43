"""parbench: benchmark ways of going parallel in Python, and learn which one wins, by how much, and why.

`parbench.load(run)` reads a run folder into a tidy pandas DataFrame (one row per timed repeat) and
`parbench.summarize(df)` turns it into one row per cell with statistics and speedups. Both import pandas
and scipy only when called, so `import parbench` (and `parbench list`) stays cheap.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import pandas as pd

    from parbench.workloads.function import FunctionWorkload

__version__ = "0.1.0"
__all__ = ["__version__", "function_workload", "load", "summarize"]


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


def function_workload(fn: Callable[[Any], Any], inputs: Iterable[Any], *,
                      combine: Callable[[Iterable[Any]], Any] = sum, name: str | None = None,
                      rtol: float | None = None, chunksize: int | None = None) -> FunctionWorkload:
    """A plain function as a workload: `fn(x)` for every input, one task per input (or per `chunksize` inputs),
    the partials combined with `combine` (default: sum). The exact answer is the sequential result, computed
    here once; results of any picklable type match it with ==, or within `rtol` (math.isclose for numbers,
    numpy.allclose for arrays). The function travels to probes and workers with cloudpickle, so one defined in
    a notebook cell or a script's __main__ runs under fork, spawn and forkserver; anything that cannot be
    shipped is a UserError saying so. Pass it to `parbench.sweep(workloads=[...])`, or register it
    (`parbench.registry.register_workload`) and name it. Details: parbench.workloads.function."""
    from parbench.workloads.function import function_workload as make

    return make(fn, inputs, combine=combine, name=name, rtol=rtol, chunksize=chunksize)
