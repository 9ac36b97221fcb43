"""Per-cell statistics of a tidy run (see parbench.results.tidy) and speedups against the baselines.

`summarize(df)` returns one row per cell (per run, when runs are concatenated), with:
  the cell columns (run_id, key, workload, strategy, family, workers, start_method, parameters, options),
  status, error, n (timed repeats), median_ns, iqr_ns, mean_ns, stdev_ns, min_ns, ci_low_ns / ci_high_ns
  (bootstrap 95% CI of the median), cv (stdev / mean), outliers (count by MAD: modified z-score > 3.5),
  noisy (cv > 10%), timer_dominated (median under 1 ms), cpu_median_ns, utilisation (median of
  cpu / (wall x workers): threads on a GIL-holding kernel stay near 1/workers), setup_ns, teardown_ns,
  e2e_ns (setup + median + teardown: what one call costs from cold), cpus_granted, peak_rss,
  baseline_ns (the sequential reference's median), speedup, speedup_low / speedup_high (its 95% CI),
  paired (True: the speedup is the median of per-pair ratios, see below), pairs / clean_pairs (pairs measured,
  and those undisturbed by other tenants), contaminated_share (timed repeats, either side of a pair, with
  foreign CPU time above FOREIGN_SHARE), ref_utilisation (the paired reference's CPU / wall), work_ratio (the
  reference's wall time / the cell's CPU time: above 1, the cell finished more work than it burned CPU for),
  self_speedup (the same strategy at one worker / median: unpaired), efficiency (speedup / workers),
  cpu_bound, superlinear (the workload's word), suspect (why the physical checks doubt the cell, or empty).

Speedups (DESIGN 5b). A cell measured with a paired reference (schema 2) gets the median of its per-pair
ratios T_ref / T_cell, with a bootstrap CI, over its clean pairs when it has MIN_CLEAN_PAIRS of them and over
every pair otherwise. A cell without one (sequential itself; a version-1 run) gets the ratio of the sequential
cell's median to its own, `paired` False, and a CI from both medians' CIs. Speedups are left empty unless the
cell is OK: a WRONG cell is never averaged in. parbench.analysis.physics then marks impossible cells SUSPECT.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from parbench.analysis.physics import check_physics
from parbench.analysis.scaling import efficiency, sequential_reference, speedup
from parbench.results.schema import FOREIGN_SHARE, SLOW_MACHINE, worst

NOISY_CV = 0.10
TIMER_FLOOR_NS = 1_000_000
MAD_Z = 3.5
# The modified z-score scale: 0.6745 is the 75th percentile of the standard normal (Iglewicz & Hoaglin).
MAD_SCALE = 0.6745
BOOTSTRAP_RESAMPLES = 2000
# Fewer clean pairs than this and a cell's paired speedup uses every pair (and says it is not clean).
MIN_CLEAN_PAIRS = 3


def adjusted(p_values: list[float]) -> list[float]:
    """Benjamini-Hochberg q-values: the false discovery rate among cells (or benchmarks, series) flagged at each p."""
    if len(p_values) < 2:
        return list(p_values)
    return [float(q) for q in stats.false_discovery_control(np.array(p_values), method="bh")]


def median_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the median (seeded: summaries are reproducible)."""
    if len(values) < 2 or np.all(values == values[0]):
        return float(values[0]), float(values[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny samples make scipy warn about degenerate resamples
        result = stats.bootstrap((values,), np.median, n_resamples=BOOTSTRAP_RESAMPLES, confidence_level=confidence,
                                 method="percentile", vectorized=True, rng=np.random.default_rng(0))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mad_outliers(values: np.ndarray) -> int:
    """How many values lie more than 3.5 modified z-scores from the median."""
    median = np.median(values)
    mad = np.median(np.abs(values - median))
    if mad == 0:
        return 0
    return int(np.sum(MAD_SCALE * np.abs(values - median) / mad > MAD_Z))


def describe(values: np.ndarray) -> dict[str, Any]:
    """Location and spread of one cell's wall times (ns)."""
    n = len(values)
    if n == 0:
        return {"n": 0}
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    mean = float(np.mean(values))
    stdev = float(np.std(values, ddof=1)) if n > 1 else float("nan")
    low, high = median_ci(values)
    return {"n": n, "median_ns": float(median), "iqr_ns": float(q3 - q1), "mean_ns": mean, "stdev_ns": stdev,
            "min_ns": float(np.min(values)), "ci_low_ns": low, "ci_high_ns": high,
            "cv": stdev / mean if mean else float("nan"), "outliers": mad_outliers(values)}


def _per_visit(group: pd.DataFrame, column: str) -> float:
    """The median over a cell's visits of a per-visit value (each visit's rows repeat it once per repeat)."""
    visits = group["visit"].to_numpy() if "visit" in group.columns else np.zeros(len(group))
    _, first = np.unique(visits, return_index=True)
    values = pd.to_numeric(group[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)[first]
    return float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")


def disturbed(timed: pd.DataFrame) -> np.ndarray:
    """Per timed repeat: either side of its pair had foreign CPU time above FOREIGN_SHARE."""
    def share(foreign: str, wall: str, cpus: Any) -> np.ndarray:
        if foreign not in timed:
            return np.zeros(len(timed))
        values = pd.to_numeric(timed[foreign], errors="coerce").to_numpy(dtype=float, na_value=0.0)
        found: np.ndarray = values / (timed[wall].to_numpy(dtype=float, na_value=np.nan) * cpus)
        return found

    cpus = pd.to_numeric(timed["cpus_granted"], errors="coerce").fillna(1).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        cell = share("foreign_ns", "wall_ns", cpus) > FOREIGN_SHARE
        ref = share("ref_foreign_ns", "ref_wall_ns", 1.0) > FOREIGN_SHARE if "ref_wall_ns" in timed else cell & False
    return np.asarray(cell | ref)


def paired(timed: pd.DataFrame) -> dict[str, Any]:
    """A cell's paired speedup from its timed repeats (module docstring); {} when it has no reference."""
    if "ref_wall_ns" not in timed or timed["ref_wall_ns"].isna().all():
        return {}
    dirty = disturbed(timed)
    has_ref = timed["ref_wall_ns"].notna().to_numpy()
    clean = has_ref & ~dirty
    use = timed[clean] if clean.sum() >= MIN_CLEAN_PAIRS else timed[has_ref]
    ref_wall = use["ref_wall_ns"].to_numpy(dtype=float)
    ratios = ref_wall / use["wall_ns"].to_numpy(dtype=float)
    low, high = median_ci(ratios)
    return {"paired": True, "pairs": int(has_ref.sum()), "clean_pairs": int(clean.sum()),
            "speedup": float(np.median(ratios)), "speedup_low": low, "speedup_high": high,
            "baseline_ns": float(np.median(ref_wall)),
            "ref_utilisation": float(np.median(use["ref_cpu_ns"].to_numpy(dtype=float) / ref_wall)),
            "work_ratio": float(np.median(ref_wall / use["cpu_ns"].to_numpy(dtype=float)))}


def _cell_row(group: pd.DataFrame, cell_columns: list[str]) -> dict[str, Any]:
    first = group.iloc[0]
    row: dict[str, Any] = {c: first[c] for c in cell_columns}
    # Visits of one cell (sweep rounds) pool their repeats; the cell is as bad as its worst visit.
    status = worst(list(group["status"]))
    errors = group.loc[group["status"] == status, "error"].dropna()
    row.update(status=status, error=errors.iloc[0] if len(errors) else None)
    timed = group[group["wall_ns"].notna()]
    wall = timed["wall_ns"].to_numpy(dtype=float)
    row.update(describe(wall))
    if len(wall):
        cpu = timed["cpu_ns"].to_numpy(dtype=float)
        row["cpu_median_ns"] = float(np.median(cpu))
        row["utilisation"] = float(np.median(cpu / (wall * int(first["workers"]))))
        row["noisy"] = bool(row["cv"] > NOISY_CV)
        row["timer_dominated"] = bool(row["median_ns"] < TIMER_FLOOR_NS)
        row["contaminated_share"] = float(disturbed(timed).mean())
        if status == "OK":
            row.update(paired(timed))
    for flag in ("cpu_bound", "superlinear"):
        row[flag] = first.get(flag)
    row.update(setup_ns=_per_visit(group, "setup_ns"), teardown_ns=_per_visit(group, "teardown_ns"),
               cpus_granted=first["cpus_granted"],
               peak_rss=group["peak_rss"].max())
    return row


def _self_point(key: str) -> str:
    cell = json.loads(key)
    cell["workers"] = 1
    return json.dumps(cell, sort_keys=True)


def _add_speedups(out: pd.DataFrame) -> pd.DataFrame:
    ok = out["status"] == "OK"
    self_point = out["key"].map(_self_point)
    ones = out[ok & (out["workers"] == 1)]
    at_one = dict(zip(zip(ones["run_id"], ones["key"].map(_self_point), strict=True), ones["median_ns"],
                      strict=True))
    one = np.array([at_one.get((r, p), np.nan) for r, p in zip(out["run_id"], self_point, strict=True)], dtype=float)
    median = out["median_ns"].where(ok)
    out["self_speedup"] = speedup(one, median)
    out = _unpaired(out, median)
    out["efficiency"] = efficiency(out["speedup"], out["workers"])
    return out


def _unpaired(out: pd.DataFrame, median: pd.Series) -> pd.DataFrame:
    """Speedups of cells without a paired reference: the sequential cell's median over theirs, with a CI
    from both medians' CIs (the widest the two allow: unpaired figures carry the machine's drift)."""
    for column in ("paired", "speedup", "speedup_low", "speedup_high", "baseline_ns", "ref_utilisation"):
        if column not in out:
            out[column] = np.nan
    out["paired"] = out["paired"].astype("boolean").fillna(False).astype(bool)
    lone = ~out["paired"]
    base, low, high = (sequential_reference(out, c) for c in ("median_ns", "ci_low_ns", "ci_high_ns"))
    out.loc[lone, "baseline_ns"] = base[lone]
    out.loc[lone, "ref_utilisation"] = sequential_reference(out, "utilisation")[lone]
    out.loc[lone, "speedup"] = speedup(base, median)[lone]
    out.loc[lone, "speedup_low"] = speedup(low, out["ci_high_ns"].where(median.notna()))[lone]
    out.loc[lone, "speedup_high"] = speedup(high, out["ci_low_ns"].where(median.notna()))[lone]
    # Sequential is the reference: its speedup is 1 by definition, not a measurement with an error.
    itself = (out["strategy"] == "sequential") & (out["workers"] == 1) & median.notna()
    out.loc[itself, ["speedup", "speedup_low", "speedup_high"]] = 1.0
    return out


def steady_visits(df: pd.DataFrame) -> pd.DataFrame:
    """The rows to time each cell by: its visits measured while the machine ran at its best, when it has any.

    A visit whose slowdown (runner.canary) is above SLOW_MACHINE timed the machine as much as the code. A cell
    with at least one steady OK visit is timed by those alone; a cell without one keeps every visit (and its
    summary says how slow the machine ran). Failed visits are never dropped: their status is a finding.
    """
    if "slowdown" not in df.columns or df.empty:
        return df
    slow = (pd.to_numeric(df["slowdown"], errors="coerce") > SLOW_MACHINE) & (df["status"] == "OK")
    cells = list(zip(df["run_id"], df["key"], strict=True))
    steady = {c for c, s, timed in zip(cells, slow, df["wall_ns"].notna(), strict=True) if timed and not s}
    return df[~slow | ~pd.Series([c in steady for c in cells], index=df.index)]


def _machine(df: pd.DataFrame, kept: pd.DataFrame) -> pd.DataFrame:
    """Per cell: visits dropped as measured on a slow machine, and the slowdown of the visits kept."""
    def visits(frame: pd.DataFrame) -> pd.Series:
        return frame.groupby(["run_id", "key"], sort=False)["visit"].nunique()

    slowdown = pd.to_numeric(kept.get("slowdown", pd.Series(dtype=float)), errors="coerce")
    out = pd.DataFrame({"slow_visits_dropped": visits(df).sub(visits(kept), fill_value=0),
                        "slowdown": slowdown.groupby([kept["run_id"], kept["key"]]).max()})
    return out.reset_index()


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: statistics of its timed repeats, end-to-end time, speedups (module docstring)."""
    cell_columns = [c for c in df.columns if c not in _MEASURED and not c.startswith("phase_")]
    kept = steady_visits(df)
    groups = kept.groupby(["run_id", "key"], sort=False, dropna=False)
    out = pd.DataFrame([_cell_row(group, cell_columns) for _, group in groups])
    if out.empty:
        return out
    if "visit" in df.columns:
        out = out.merge(_machine(df, kept), on=["run_id", "key"], how="left")
    wanted = (*STAT_COLUMNS, *PAIR_COLUMNS)
    out = out.reindex(columns=[*out.columns, *(c for c in wanted if c not in out.columns)])
    for column in ("setup_ns", "teardown_ns", *STAT_COLUMNS[1:]):
        out[column] = pd.to_numeric(out[column], errors="coerce")  # pd.NA (no measurement) -> NaN
    out["e2e_ns"] = out["setup_ns"] + out["median_ns"] + out["teardown_ns"]
    return check_physics(_add_speedups(out))


# Present in every summary, empty (NaN) for cells that produced no timed repeat.
STAT_COLUMNS = ("n", "median_ns", "iqr_ns", "mean_ns", "stdev_ns", "min_ns", "ci_low_ns", "ci_high_ns", "cv",
                "outliers", "cpu_median_ns", "utilisation")


# Present in every summary, empty where a cell has no paired reference (or no timed repeat).
PAIR_COLUMNS = ("pairs", "clean_pairs", "ref_utilisation", "work_ratio", "contaminated_share")


# Per-repeat or per-record measurements: everything in a tidy frame that is not part of a cell's identity.
_MEASURED = frozenset({"status", "error", "repeat", "wall_ns", "cpu_ns", "result", "expected", "ok", "peak_rss",
                       "setup_ns", "teardown_ns", "warmup", "cpus_granted", "cpus", "peak_rss_children",
                       "probe_wall_ns", "started", "visit", "slowdown", "canary_ns", "foreign_ns", "first",
                       "ref_wall_ns", "ref_cpu_ns", "ref_foreign_ns", "cpu_bound", "superlinear", "quiet_wait_s",
                       "contaminated"})
