"""Where a cell's time goes: the median of each phase over its timed repeats, with setup and teardown.

A run's phases (spawn, scatter, compute, gather; a plugin may mark others) are timed per repeat; setup and
teardown once per cell. One call from cold costs setup + one run + teardown, which is what the report's
stacked bars show. Time a run spent outside every marked phase is `other`, so the parts add up to the median.
The visits are those summarize() times the cell by (stats.steady_visits), so the bars describe the same
repeats as the medians printed beside them.
"""

from __future__ import annotations

import pandas as pd

from parbench.analysis.stats import steady_visits

# The order a call goes through them; phases a plugin marks come after gather.
KNOWN = ("spawn", "scatter", "compute", "gather")


def phase_names(df: pd.DataFrame) -> list[str]:
    """The per-run phases present in a tidy run, in call order."""
    present = [c[len("phase_"):-len("_ns")] for c in df.columns if c.startswith("phase_") and c.endswith("_ns")]
    return [p for p in KNOWN if p in present] + sorted(p for p in present if p not in KNOWN)


def phase_medians(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell key: setup, each phase's median, other, teardown (ns; 0 where a phase is absent),
    and total (their sum: one call from cold)."""
    names = phase_names(df)
    kept = steady_visits(df)  # a visit on a slow machine would describe other repeats than the cell's median
    timed = kept[kept["wall_ns"].notna()]
    columns = {f"phase_{p}_ns": p for p in names} | {"setup_ns": "setup", "teardown_ns": "teardown", "wall_ns": "wall"}
    values = timed[list(columns)].apply(pd.to_numeric, errors="coerce").astype(float).rename(columns=columns)
    out = values.groupby(timed["key"], sort=False).median().fillna(0.0)
    out["other"] = (out["wall"] - out[names].sum(axis=1)).clip(lower=0.0)
    order = ["setup", *names, "other", "teardown"]
    out = out[order]
    out["total"] = out[order].sum(axis=1)
    return out.rename_axis("key").reset_index()
