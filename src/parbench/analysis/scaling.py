"""Scaling laws over a summarized run: speedup, efficiency, Karp-Flatt, the Amdahl fit, crossover sizes, GB/s.

The scalar functions are the definitions (tested against known answers); `annotate`, `fits` and
`crossovers` apply them to a summary (parbench.analysis.stats.summarize) grouped the way the report reads it:

  point   - workload + all its parameters: what a speedup compares against (one x value of time vs size);
  variant - workload + its parameters but `size`: one panel (array-sum with the python kernel);
  series  - strategy + start method + options: one line in a figure.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from parbench.analysis import DEFAULT_FACTOR
from parbench.families import Family
from parbench.units import fmt_count

SIZE = "size"
FIT_GRID = 201
# An Amdahl fit is shown only over this many worker counts: through two points (1 and p) a one-parameter curve
# passes exactly whatever the law, so its f says nothing (it printed "f = 1.000" for most strategies).
MIN_FIT_COUNTS = 3
# The order tables and figures list strategy families in: sequential, the reference, first.
FAMILY_ORDER: dict[str, int] = {family: i for i, family in enumerate(get_args(Family))}


def speedup(reference_ns: Any, median_ns: Any) -> Any:
    """S = T_reference / T: above 1 is faster than the reference; NaN without a positive T (numpy-broadcast
    over both: a float for two numbers, an array for columns)."""
    reference, median = np.asarray(reference_ns, dtype=float), np.asarray(median_ns, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        found = np.where(median > 0, reference / median, np.nan)
    return float(found) if found.ndim == 0 else found


def efficiency(speedup_: Any, workers: Any) -> Any:
    """E = S / p: 1 is perfect scaling, 1/p no gain at all (numpy-broadcast, like speedup)."""
    found = np.asarray(speedup_, dtype=float) / np.asarray(workers, dtype=float)
    return float(found) if found.ndim == 0 else found


def karp_flatt(speedup_: float, workers: int) -> float:
    """The experimentally determined serial fraction e = (1/S - 1/p) / (1 - 1/p); undefined at p = 1.

    Constant over p: a true serial part (Amdahl). Growing with p: overhead that grows with the workers.
    """
    if workers <= 1 or not speedup_ > 0:
        return float("nan")
    return (1 / speedup_ - 1 / workers) / (1 - 1 / workers)


def amdahl(workers: Any, serial_fraction: Any) -> Any:
    """Amdahl's law: S(p) = 1 / (f + (1 - f) / p) (numpy-broadcast over both)."""
    return 1 / (serial_fraction + (1 - serial_fraction) / np.asarray(workers, dtype=float))


@dataclass(frozen=True)
class AmdahlFit:
    """The serial fraction f that best explains speedups over worker counts, and how well it does."""

    serial_fraction: float
    rmse: float  # of the speedups, in speedup units
    points: int

    def ceiling(self) -> float:
        """The speedup no number of workers can pass: 1/f."""
        return 1 / self.serial_fraction if self.serial_fraction > 0 else float("inf")


def fit_amdahl(workers: Sequence[int], speedups: Sequence[float]) -> AmdahlFit | None:
    """Least-squares f in [0, 1] over every measured p; None without two worker counts to fit.

    One parameter on a bounded interval: a grid finds the basin (the squared error need not be unimodal),
    then bounded Brent refines it; the same minimum curve_fit finds, at a fraction of its cost.
    """
    p = np.asarray(workers, dtype=float)
    s = np.asarray(speedups, dtype=float)
    keep = np.isfinite(s) & (s > 0)
    p, s = p[keep], s[keep]
    if len(np.unique(p)) < 2:  # one worker count says nothing about scaling
        return None
    grid = np.linspace(0.0, 1.0, FIT_GRID)
    errors = ((amdahl(p[:, None], grid[None, :]) - s[:, None]) ** 2).sum(axis=0)
    step = 1.0 / (FIT_GRID - 1)
    start = grid[int(np.argmin(errors))]
    lo, hi = max(0.0, start - step), min(1.0, start + step)
    found = minimize_scalar(lambda f: float(((amdahl(p, f) - s) ** 2).sum()), bounds=(lo, hi), method="bounded",
                            options={"xatol": 1e-7})
    f = min((float(found.x), lo, hi), key=lambda x: float(((amdahl(p, x) - s) ** 2).sum()))
    rmse = float(np.sqrt(np.mean((amdahl(p, f) - s) ** 2)))
    return AmdahlFit(f, rmse, len(p))


def crossover(speedups_by_size: Mapping[float, float]) -> float | None:
    """The smallest size from which on a strategy beats the reference at every larger size measured (a NaN
    speedup, a size it has no OK figure for, is not beaten)."""
    found = None
    for size in sorted(speedups_by_size, reverse=True):
        if not speedups_by_size[size] > 1:
            break
        found = size
    return found


def throughput(bytes_: float, median_ns: float) -> float:
    """Bytes per second."""
    return bytes_ / (median_ns / 1e9) if median_ns > 0 else float("nan")


def size_text(size: Any) -> str:
    """1e6 for powers of ten, 300_000 otherwise; anything not a whole number as it is."""
    try:
        whole = float(size).is_integer()
    except (TypeError, ValueError):
        return str(size)
    return fmt_count(int(size)) if whole else str(size)


def family_rank(families: pd.Series) -> pd.Series:
    """Each family's place in FAMILY_ORDER, to sort by; a family parbench does not know comes last."""
    return families.map(FAMILY_ORDER).fillna(len(FAMILY_ORDER))


def _cell(key: str) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(key)
    return raw


def _interpreter(cell: Mapping[str, Any]) -> list[dict[str, Any]]:
    """[{python, gil}] for a cell measured under an interpreter other than the running one's default, else []:
    sequential under 3.13 is the reference of 3.13's cells, never of 3.11's."""
    found = {k: cell[k] for k in ("python", "gil") if cell.get(k) is not None}
    return [found] if found else []


def point_of(key: str) -> str:
    """The (workload, parameters[, interpreter]) part of a cell key: what a speedup compares against."""
    cell = _cell(key)
    return json.dumps([cell["workload"], cell["params"], *_interpreter(cell)], sort_keys=True)


def sequential_reference(summary: pd.DataFrame, column: str, points: pd.Series | None = None) -> np.ndarray:
    """Per row: `column` of the OK sequential cell at one worker of the same run and point (`points`, computed
    from the keys when not given); NaN where there is none: a failed baseline gives no reference."""
    point = summary["key"].map(point_of) if points is None else points
    base = (summary["status"] == "OK") & (summary["strategy"] == "sequential") & (summary["workers"] == 1)
    found = dict(zip(zip(summary.loc[base, "run_id"], point[base], strict=True), summary.loc[base, column],
                     strict=True))
    return np.array([found.get(k, np.nan) for k in zip(summary["run_id"], point, strict=True)], dtype=float)


def variant_of(key: str) -> str:
    cell = _cell(key)
    return json.dumps([cell["workload"], {k: v for k, v in cell["params"].items() if k != SIZE}], sort_keys=True)


def series_of(key: str) -> str:
    cell = _cell(key)
    return json.dumps([cell["strategy"], cell["start_method"], cell["options"], *_interpreter(cell)], sort_keys=True)


def _labels(series: Iterable[str]) -> dict[str, str]:
    """Short names for series: the strategy, plus the start method or options only where they tell apart, and
    the interpreter (py3.13, gil=off) where the run has several."""
    parsed = {s: json.loads(s) for s in set(series)}
    methods = {m for _, m, *_ in parsed.values() if m}
    labels = {}
    for key, (strategy, method, options, *where) in parsed.items():
        siblings = [o for s, _, o, *_ in parsed.values() if s == strategy]
        label = strategy + (f" ({method})" if len(methods) > 1 and method else "")
        if any(o != options for o in siblings):
            label += " " + " ".join(f"{k}={v}" for k, v in sorted(options.items()))
        label += "".join(f" py{w['python']}" * ("python" in w) + f" gil={w.get('gil')}" * ("gil" in w) for w in where)
        labels[key] = label
    return labels


def annotate(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with point, variant, series, label, baseline_cpu_ns (sequential's CPU time at the point) and
    Karp-Flatt columns (absolute and self-relative)."""
    out = summary.copy()
    for flag in ("noisy", "timer_dominated"):  # absent when no cell of the run has a timed repeat
        if flag not in out:
            out[flag] = False
    out["point"] = out["key"].map(point_of)
    out["variant"] = out["key"].map(variant_of)
    out["series"] = out["key"].map(series_of)
    out["label"] = out["series"].map(_labels(out["series"]))
    out["baseline_cpu_ns"] = sequential_reference(out, "cpu_median_ns", out["point"])
    workers = out["workers"].astype(int)
    out["karp_flatt"] = [karp_flatt(s, p) for s, p in zip(out["speedup"], workers, strict=True)]
    out["karp_flatt_self"] = [karp_flatt(s, p) for s, p in zip(out["self_speedup"], workers, strict=True)]
    return out


def fits(annotated: pd.DataFrame) -> pd.DataFrame:
    """One row per (point, series) with two or more worker counts: Amdahl f of absolute and self speedups."""
    rows = []
    ok = annotated[annotated["status"] == "OK"]
    for (point, series), group in ok.groupby(["point", "series"], sort=False):
        absolute = fit_amdahl(list(group["workers"]), list(group["speedup"]))
        relative = fit_amdahl(list(group["workers"]), list(group["self_speedup"]))
        if absolute is None and relative is None:
            continue
        rows.append({"point": point, "series": series, "variant": group["variant"].iloc[0],
                     "label": group["label"].iloc[0], "size": group[SIZE].iloc[0] if SIZE in group else None,
                     "amdahl_f": absolute.serial_fraction if absolute else np.nan,
                     "amdahl_rmse": absolute.rmse if absolute else np.nan,
                     "amdahl_f_self": relative.serial_fraction if relative else np.nan,
                     "worker_counts": int(group["workers"].nunique()),
                     "meaningful": int(group["workers"].nunique()) >= MIN_FIT_COUNTS})
    return pd.DataFrame(rows, columns=["point", "series", "variant", "label", "size", "amdahl_f", "amdahl_rmse",
                                       "amdahl_f_self", "worker_counts", "meaningful"])


def crossovers(annotated: pd.DataFrame) -> pd.DataFrame:
    """One row per (variant, series) but sequential: the crossover size (NaN: never), with its best speedup
    at each size (over worker counts) to show why. A size where the series has no speedup (its cells failed,
    or sequential's did) is NaN there and counts as not beaten: "beats at every larger size" is never
    claimed over a size it was not seen to win."""
    rows = []
    if SIZE not in annotated:
        return pd.DataFrame(columns=["variant", "series", "label", "crossover", "sizes"])
    parallel = annotated[annotated["strategy"] != "sequential"]
    for (variant, series), group in parallel.groupby(["variant", "series"], sort=False):
        sizes = sorted(group[SIZE].dropna().unique())
        best = ok_rows(group).groupby(SIZE)["speedup"].max().reindex(sizes)
        if best.isna().all():
            continue
        by_size = {float(k): float(v) for k, v in best.items()}
        rows.append({"variant": variant, "series": series, "label": group["label"].iloc[0],
                     "crossover": crossover(by_size), "sizes": by_size})
    out = pd.DataFrame(rows, columns=["variant", "series", "label", "crossover", "sizes"])
    out["crossover"] = pd.to_numeric(out["crossover"])
    return out


def ok_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The cells that count: OK, with a median."""
    return rows[(rows["status"] == "OK") & rows["median_ns"].notna()]


def largest_point(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of one variant at its largest size (its only point when the workload has no size)."""
    if rows.empty:
        return rows
    if SIZE not in rows or rows[SIZE].isna().all():
        return rows[rows["point"] == rows["point"].iloc[0]]
    return rows[rows[SIZE] == rows[SIZE].max()]


def at_top_workers(rows: pd.DataFrame) -> pd.DataFrame:
    """Each series at the most workers in `rows`, with sequential (one worker) as the reference."""
    return rows[(rows["workers"] == rows["workers"].max()) | (rows["strategy"] == "sequential")]


# A winner must be at least this much faster than its closest rival (sequential included): a lead smaller than
# what the regression gate calls a change (its default factor, 1.10) is no answer a user can act on, and
# calling it flips from run to run (two thread strategies sleeping in parallel differ by 2-5%). The margin holds
# at the low end of the lead's 95% CI, not at its middle: a lead measured at 1.10-1.13x (thread-pool over threads
# at delayed-square 4 x2 here) would otherwise be named in one run and not in the next.
WIN_MARGIN = DEFAULT_FACTOR - 1


@dataclass(frozen=True)
class Leader:
    """Who wins at one workload point, by speedup (paired where measured so). The burden of proof is on going
    parallel: the fastest parallel cell `best` wins when its 95% CI lies above every other strategy's, and its
    lead over sequential (its speedup's CI) and over `runner_up` (the fastest other strategy: the ratio of their
    speedups, whose CI combines both of theirs) is WIN_MARGIN or more at the low end of the lead's CI.
    When nothing parallel clearly beats sequential, sequential wins (`best` is its cell, or None when it has
    none); when a parallel cell beats it but ties with another strategy, `clear` is False: "none clearly"."""

    best: pd.Series | None
    runner_up: pd.Series | None
    clear: bool
    sequential: bool = False  # nothing parallel clearly beats sequential

    def name(self) -> str:
        """'shared-memory x2', 'sequential', 'none clearly' or 'none' (no trusted cell at all)."""
        if self.sequential:
            return "sequential"
        if self.best is None:
            return "none"
        return cell_label(self.best) if self.clear else "none clearly"

    def strategy(self) -> str:
        """The winner's strategy label without its worker count (what runs are compared on)."""
        if self.sequential or self.best is None or not self.clear:
            return self.name()
        return str(self.best["label"] if "label" in self.best else self.best["strategy"])

    def text(self) -> str:
        """What every table of winners (terminal and report) says at this point: the winner, 'sequential'
        (with the closest parallel cell), 'none clearly: A ~ B', or 'no trusted cell'."""
        best, rival = self.best, self.runner_up
        if best is None:
            return "sequential" if self.sequential else "no trusted cell"
        if not pd.notna(best["speedup"]):
            return f"{cell_label(best)} (no baseline)"
        if self.sequential:
            return f"sequential (closest: {cell_label(rival)})" if rival is not None else "sequential"
        if self.clear or rival is None:
            return cell_label(best)
        return f"none clearly: {cell_label(best)} ~ {cell_label(rival)}"

    def shown(self) -> pd.Series | None:
        """The cell whose figures a table shows beside text(): the closest rival when sequential wins (its
        speedup says by how much nothing beat it), else the best."""
        return self.runner_up if self.sequential and self.runner_up is not None else self.best


def cell_label(row: pd.Series) -> str:
    label = row["label"] if "label" in row and isinstance(row["label"], str) else row["strategy"]
    return f"{label} x{int(row['workers'])}"


def _ahead(best: pd.Series, rival: pd.Series | None, high: float) -> bool:
    """Whether `best` leads `rival` (None: sequential) by WIN_MARGIN at the low end of the lead's 95% CI, and its
    CI lies above `high`."""
    return bool(best["speedup_low"] > high and lead_low(best, rival) >= 1 + WIN_MARGIN)


def lead_low(best: pd.Series, rival: pd.Series | None) -> float:
    """The low end of the 95% CI of best's speedup / rival's (None: sequential, whose speedup is 1 by definition,
    the pairing already in best's CI). Two cells are separate probes: their CIs' half-widths, taken on the log
    scale, add in quadrature. NaN where a CI is missing: no lead is proven then."""
    def log(row: pd.Series, column: str) -> float:
        value = pd.to_numeric(row[column], errors="coerce")
        return math.log(value) if pd.notna(value) and value > 0 else math.nan

    def half(row: pd.Series) -> float:
        return (log(row, "speedup_high") - log(row, "speedup_low")) / 2

    if rival is None:
        return float(best["speedup_low"])
    return math.exp(log(best, "speedup") - log(rival, "speedup") - math.hypot(half(best), half(rival)))


def leader(rows: pd.DataFrame) -> Leader:
    """The Leader among `rows` (one point's cells, every worker count)."""
    ok = ok_rows(rows)
    if ok["speedup"].isna().all():  # no baseline to judge by: the fastest cell, unranked
        return Leader(ok.loc[ok["median_ns"].idxmin()] if len(ok) else None, None, False)
    seq = rows[(rows["strategy"] == "sequential") & rows["median_ns"].notna()]
    seq_row = seq.iloc[0] if len(seq) else None
    parallel = ok[(ok["strategy"] != "sequential") & ok["speedup"].notna()]
    if parallel.empty:
        return Leader(seq_row, None, True, sequential=True)
    series = parallel["series"] if "series" in parallel else parallel["key"].map(series_of)
    ranked = parallel.assign(_series=series).sort_values("speedup", ascending=False)
    best = ranked.iloc[0]
    if not _ahead(best, None, 1.0):
        return Leader(seq_row, best, True, sequential=True)
    others = ranked[ranked["_series"] != best["_series"]]
    if others.empty:
        return Leader(best, None, True)
    runner_up = others.iloc[0]
    return Leader(best, runner_up, _ahead(best, runner_up, float(others["speedup_high"].max())))


def best_map(rows: pd.DataFrame) -> pd.DataFrame:
    """The fastest OK cell at each (size, workers) of one variant: size, workers, label, median_ns, speedup.
    Sequential counts at one worker only, where it is measured."""
    ok = ok_rows(rows)
    columns = [SIZE, "workers", "label", "median_ns", "speedup"]
    if ok.empty or SIZE not in ok:
        return pd.DataFrame(columns=columns)
    best = ok.loc[ok.groupby([SIZE, "workers"])["median_ns"].idxmin()]
    return best[columns].sort_values([SIZE, "workers"]).reset_index(drop=True)
