"""Two runs, cell by cell: the ratio of medians with a bootstrap CI, a Mann-Whitney U test, and asv's rule.

A cell regressed when its new median is slower than `factor` x the base median AND the two sets of raw wall
times differ with q < alpha (two-sided Mann-Whitney U p-values, adjusted with Benjamini-Hochberg for the number
of cells compared): a large change that noise cannot explain. The adjustment is what makes a sweep-wide gate
honest: at alpha 0.01, about one unchanged cell in a hundred passes the raw test by chance, and a quick
sweep compares ninety. Improved
likewise the other way. A cell that was OK and no longer is (WRONG, TIMEOUT, CRASHED, ERROR) regressed too:
a wrong answer is worse than a slow one. Cells are matched on their key (workload, parameters, strategy,
options, workers, start method); cells in only one run are listed, never compared.

Run-wide drift. A shared or throttled machine can run a whole sweep 10% slower than the one before: every
cell moves, and with asv's rule alone an A/A comparison flags dozens of them. When enough cells are common
(MIN_DRIFT_CELLS), the drift is measured as the median ratio over every common OK cell, printed, and each
cell is judged relative to it (its times divided by the drift, then the same rule). A change that slows one
strategy shows up against the others; a change that slows every cell alike shows up as the drift itself,
which is reported, not gated. `absolute=True` (`--absolute`) judges the raw times, asv's rule as is.

Paired (the default, DESIGN 5b). A cell measured with a paired sequential reference (schema 2) is judged on
its relative time, wall / the reference's wall of the same pair, instead of its raw time: a runner that is
uniformly slower, or a neighbour on one CPU for a while, slows both sides of each pair alike and cancels out,
while a strategy that really got slower still moves. Pairs disturbed by other tenants are left out, and a cell
left with too few is not compared. Cells without a reference (sequential itself, runs of schema 1) are judged
on their times paced by the canary of their visit (runner.canary: how fast the machine ran then), relative to
the drift, as above. `paired=False` (`--raw`) judges every cell on raw times.

Then the paired cells' strategies as wholes (analysis.strategywide): a strategy whose cells moved together
beyond the factor has each of its cells beyond the factor flagged with it (`together`), even where that cell's
own pairs were too few to show it alone.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from parbench.analysis import DEFAULT_ALPHA, DEFAULT_FACTOR
from parbench.analysis.scaling import series_of
from parbench.analysis.stats import BOOTSTRAP_RESAMPLES, MIN_CLEAN_PAIRS, adjusted, disturbed
from parbench.analysis.strategywide import Judged, SeriesChange, series_changes
from parbench.results.schema import Cell, worst

Verdict = Literal["regressed", "improved", "unchanged", "not compared"]
# Below this many common cells a median ratio says more about those few cells than about the machine.
MIN_DRIFT_CELLS = 8


@dataclass(frozen=True)
class CellChange:
    """One cell present in both runs."""

    key: str
    label: str
    base_status: str
    new_status: str
    base_median_ns: float
    new_median_ns: float
    ratio: float  # new / base: above 1 is slower
    ci_low: float
    ci_high: float
    p_value: float
    base_n: int
    new_n: int
    verdict: Verdict
    reason: str = ""
    relative: float = math.nan  # ratio / the run-wide drift: what the verdict judges
    q_value: float = math.nan  # p_value adjusted for the number of cells compared (Benjamini-Hochberg)
    paired: bool = False  # ratio, CI and p judge the time relative to the paired reference, not raw time
    together: bool = False  # flagged with its strategy's cells (analysis.strategywide), not by its own q

    def verdict_text(self) -> str:
        """The verdict as tables show it: 'regressed (with its strategy)' for a cell flagged with its series."""
        return f"{self.verdict} (with its strategy)" if self.together else self.verdict

    def ratio_text(self) -> str:
        """'1.500 (1.478-1.521)': the ratio and its 95% CI; '-' for a cell without one (a status change)."""
        return "-" if math.isnan(self.ratio) else f"{self.ratio:.3f} ({self.ci_low:.3f}-{self.ci_high:.3f})"


@dataclass(frozen=True)
class Comparison:
    """Every matching cell of two runs, and the cells only one of them has."""

    base: str
    new: str
    factor: float
    alpha: float
    cells: tuple[CellChange, ...]
    only_base: tuple[str, ...] = ()
    only_new: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    drift: float = 1.0  # median new/base ratio over the common OK cells; 1.0 when not measured (absolute)
    series: tuple[SeriesChange, ...] = ()  # strategies whose cells moved together (analysis.strategywide)

    def with_verdict(self, verdict: Verdict) -> list[CellChange]:
        return [c for c in self.cells if c.verdict == verdict]

    @property
    def regressed(self) -> list[CellChange]:
        return self.with_verdict("regressed")

    @property
    def improved(self) -> list[CellChange]:
        return self.with_verdict("improved")

    def shown(self, every: bool = False) -> list[CellChange]:
        """The cells every format lists: regressed, improved, then those whose status changed with no ratio to
        judge (WRONG -> TIMEOUT; WRONG -> WRONG is no news). `every`: each common cell, the slowest first."""
        if every:
            return sorted(self.cells, key=lambda c: -c.ratio if not math.isnan(c.ratio) else math.inf)
        changed = [c for c in self.with_verdict("not compared") if c.base_status != c.new_status or c.paired]
        return self.regressed + self.improved + changed


def ratio_ci(base: np.ndarray, new: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of median(new) / median(base), resampling each run on its own (seeded)."""
    rng = np.random.default_rng(0)
    base_medians = np.median(rng.choice(base, (BOOTSTRAP_RESAMPLES, len(base))), axis=1)
    new_medians = np.median(rng.choice(new, (BOOTSTRAP_RESAMPLES, len(new))), axis=1)
    ratios = new_medians / base_medians
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def mann_whitney_p(base: np.ndarray, new: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value; 1 when the samples cannot be told apart at all (all equal)."""
    if len(base) == 0 or len(new) == 0 or np.ptp(np.concatenate([base, new])) == 0:
        return 1.0
    p = float(stats.mannwhitneyu(base, new, alternative="two-sided").pvalue)
    return 1.0 if math.isnan(p) else p


def smallest_p(n_base: int, n_new: int) -> float:
    """The smallest two-sided p-value Mann-Whitney U can give for these sample sizes (no overlap at all)."""
    return 2 / math.comb(n_base + n_new, n_base) if n_base and n_new else 1.0


def _times(df: pd.DataFrame, paced: bool = False) -> dict[str, np.ndarray]:
    """Per cell, every timed repeat's wall time; `paced`: for CPU-bound kernels, divided by its visit's canary (how
    fast the CPUs ran then, runner.canary) and multiplied by the run's median canary, where recorded (a kernel
    that sleeps does not run faster on a faster CPU)."""
    # Every visit, slow-machine ones included: they widen the overlap (a conservative test), whereas dropping
    # them would leave too few repeats for any p-value to survive the adjustment.
    timed = df[df["wall_ns"].notna()]
    wall = timed["wall_ns"].to_numpy(dtype=float)
    if paced and "canary_ns" in timed and "cpu_bound" in timed and len(timed):
        canary = pd.to_numeric(timed["canary_ns"], errors="coerce").to_numpy(dtype=float)
        cpu_bound = timed["cpu_bound"].fillna(False).astype(bool).to_numpy() & np.isfinite(canary)
        if cpu_bound.any():
            middle = float(np.median(canary[cpu_bound]))
            wall = np.where(cpu_bound, wall / np.where(cpu_bound, canary, 1.0) * middle, wall)
    return {str(k): wall[timed.index.get_indexer(g.index)] for k, g in timed.groupby("key", sort=False)}


def _relative(df: pd.DataFrame) -> dict[str, np.ndarray | None]:
    """Per paired cell: each undisturbed timed repeat's wall time over its paired reference's (schema 2); None
    for a cell with fewer than MIN_CLEAN_PAIRS undisturbed pairs, or with most of its pairs disturbed: other
    tenants, not the code, set its times, and the few pairs they spared are the lucky ones, not a sample (in a
    run with a CPU hog on one of its CPUs, manager x2's 5 spared pairs of 14 read 1.6x slower than a quiet run's)."""
    if "ref_wall_ns" not in df:
        return {}
    timed = df[df["wall_ns"].notna() & df["ref_wall_ns"].notna()]
    found: dict[str, np.ndarray | None] = {}
    for key, group in timed.groupby("key", sort=False):
        clean = group[~disturbed(group)]
        found[str(key)] = (clean["wall_ns"].to_numpy(dtype=float) / clean["ref_wall_ns"].to_numpy(dtype=float)
                           if len(clean) >= max(MIN_CLEAN_PAIRS, len(group) / 2) else None)
    return found


def _disturbed_change(key: str, runs: str) -> CellChange:
    nan = math.nan
    return CellChange(key, _label(key), "OK", "OK", nan, nan, nan, nan, nan, nan, 0, 0, "not compared",
                      f"fewer than half of its pairs (or {MIN_CLEAN_PAIRS}) undisturbed by other tenants in {runs}",
                      paired=True)


def _statuses(df: pd.DataFrame) -> dict[str, str]:
    """Each cell's status: its worst visit's when a sweep measured it in several rounds."""
    return {str(k): worst(list(s)) for k, s in df.groupby("key", sort=False)["status"]}


def _label(key: str) -> str:
    return Cell.from_dict(json.loads(key)).label()


def _status_change(key: str, base_status: str, new_status: str) -> CellChange:
    """A cell whose status differs: OK -> failed regressed, failed -> OK improved, else not compared."""
    verdict: Verdict = ("regressed" if base_status == "OK" else "improved" if new_status == "OK"
                        else "not compared")
    nan = math.nan
    return CellChange(key, _label(key), base_status, new_status, nan, nan, nan, nan, nan, nan, 0, 0, verdict,
                      f"status {base_status} -> {new_status}")


def _judge(ratio: float, p: float, factor: float, alpha: float) -> Verdict:
    if p < alpha and ratio > factor:
        return "regressed"
    if p < alpha and ratio < 1 / factor:
        return "improved"
    return "unchanged"


def compare_cell(key: str, base: np.ndarray, new: np.ndarray, factor: float, alpha: float,
                 drift: float = 1.0, q: float | None = None, p: float | None = None) -> CellChange:
    """Two OK cells' raw wall times (ns) -> ratio, its CI, p-value and verdict, judged against `drift` with
    the adjusted `q` (the raw p when None: a single cell). `p`: the cell's p-value when already computed."""
    base_median, new_median = float(np.median(base)), float(np.median(new))
    ratio = new_median / base_median
    low, high = ratio_ci(base, new)
    p = mann_whitney_p(base, new / drift) if p is None else p
    q = p if q is None else q
    return CellChange(key, _label(key), "OK", "OK", base_median, new_median, ratio, low, high, p, len(base),
                      len(new), _judge(ratio / drift, q, factor, alpha), relative=ratio / drift, q_value=q)


def run_drift(base: dict[str, np.ndarray], new: dict[str, np.ndarray], keys: list[str]) -> float:
    """The run-wide shift: the median of new/base median ratios over `keys` (1.0 when they are too few)."""
    if len(keys) < MIN_DRIFT_CELLS:
        return 1.0
    logs = [math.log(float(np.median(new[k])) / float(np.median(base[k]))) for k in keys]
    return math.exp(float(np.median(logs)))


def _notes(changes: list[CellChange], alpha: float) -> tuple[str, ...]:
    """What the verdicts cannot say by themselves: repeats too few for a lone changed cell to pass the
    adjusted test (a gate that cannot fail), and cells moving both ways (the machine changed, not the code)."""
    timed = [c for c in changes if c.base_n and c.new_n]
    # Benjamini-Hochberg lets a change that stands alone through only when p <= alpha / cells compared.
    needed = alpha / max(1, len(timed))
    sizes = {(c.base_n, c.new_n) for c in timed}
    blind = sorted((b, n) for b, n in sizes if smallest_p(b, n) > needed)
    notes = [f"with {b} and {n} repeats the smallest possible p-value is {smallest_p(b, n):.3g}; a change in one "
             f"cell alone needs p <= {needed:.2g} (alpha {alpha} over {len(timed)} cells compared): such a cell "
             "cannot be flagged by itself; measure more repeats or rounds" for b, n in blind]
    slower = sum(1 for c in timed if c.verdict == "regressed")
    faster = sum(1 for c in timed if c.verdict == "improved")
    if slower and faster:
        spread = float(np.median([abs(math.log(c.ratio)) for c in timed]))
        notes.append(f"{slower} cell(s) got slower and {faster} faster beyond the factor, and the median cell moved "
                     f"by {math.expm1(spread):.0%}: changes both ways usually mean the machine's load differed "
                     "between the runs (repeats of a cell share its moment, so p-values cannot see that); "
                     "compare runs from a quiet machine, or raise --factor above that noise")
    return tuple(notes)


def compare_runs(base: pd.DataFrame, new: pd.DataFrame, factor: float = DEFAULT_FACTOR,
                 alpha: float = DEFAULT_ALPHA, absolute: bool = False, paired: bool = True) -> Comparison:
    """Compare two tidy runs (parbench.load) cell by cell: paired cells on their time relative to their
    reference unless `paired` is False or `absolute`; the others relative to the run-wide drift unless
    `absolute` (module docstring)."""
    base_status, new_status = _statuses(base), _statuses(new)
    paced = paired and not absolute
    base_times, new_times = _times(base, paced), _times(new, paced)
    common = [k for k in base_status if k in new_status]
    timed = [k for k in common if base_status[k] == new_status[k] == "OK" and k in base_times and k in new_times]
    drift = 1.0 if absolute else run_drift(base_times, new_times, timed)
    rel_base, rel_new = (_relative(base), _relative(new)) if paired and not absolute else ({}, {})
    both = [k for k in timed if k in rel_base and k in rel_new]
    shaken = {k: " and ".join(n for n, rel in (("base", rel_base), ("new", rel_new)) if rel[k] is None)
              for k in both if rel_base[k] is None or rel_new[k] is None}
    timed = [k for k in timed if k not in shaken]
    judged: dict[str, tuple[np.ndarray, np.ndarray, float]] = {k: (base_times[k], new_times[k], drift) for k in timed}
    for k in both:
        b, n = rel_base[k], rel_new[k]
        if k in judged and b is not None and n is not None:
            judged[k] = (b, n, 1.0)
    p = {k: mann_whitney_p(b, n / d) for k, (b, n, d) in judged.items()}
    q = dict(zip(timed, adjusted([p[k] for k in timed]), strict=True))
    changes = [_judged(k, judged[k], (base_times[k], new_times[k]), factor, alpha, q[k], p[k]) if k in timed
               else _disturbed_change(k, shaken[k]) if k in shaken
               else _status_change(k, base_status[k], new_status[k]) for k in common]
    changes, moved = _with_series(changes, judged, factor, alpha)
    notes = _paired_notes(sum(k in both for k in timed), len(timed), len(shaken)) + _series_notes(moved)
    notes += _drift_notes(drift, len(timed), absolute) + _notes(changes, alpha)
    return Comparison(_run_id(base), _run_id(new), factor, alpha, tuple(changes),
                      tuple(_label(k) for k in base_status if k not in new_status),
                      tuple(_label(k) for k in new_status if k not in base_status), notes, drift, tuple(moved))


def _with_series(changes: list[CellChange], judged: dict[str, tuple[np.ndarray, np.ndarray, float]], factor: float,
                 alpha: float) -> tuple[list[CellChange], list[SeriesChange]]:
    """The paired cells' series judged as wholes (analysis.strategywide), and each unflagged cell of a series that
    moved, beyond the factor the same way, flagged with it."""
    moved = series_changes([Judged(c.key, series_of(c.key), c.ratio, *judged[c.key][:2]) for c in changes
                            if c.paired and not math.isnan(c.ratio)], factor, alpha)
    ways = {m.series: m for m in moved}
    flagged = []
    for c in changes:
        m = ways.get(series_of(c.key)) if c.verdict == "unchanged" and c.paired else None
        beyond = m is not None and (c.relative > factor if m.way == "regressed" else c.relative < 1 / factor)
        flagged.append(replace(c, verdict=m.way, together=True, reason=m.text(series_label(m.series)))
                       if m is not None and beyond else c)
    return flagged, moved


def series_label(series: str) -> str:
    """'pool-map fork chunksize=0': a series (scaling.series_of) as the cells' labels name it, without workers."""
    strategy, method, options, *where = json.loads(series)
    return " ".join([strategy, *([method] if method else []), *(f"{k}={v}" for k, v in sorted(options.items())),
                     *(f"{k}={v}" for w in where for k, v in w.items())])


def _series_notes(moved: list[SeriesChange]) -> tuple[str, ...]:
    return tuple(f"moved together: {m.text(series_label(m.series))}; its cells beyond the factor are flagged with "
                 "it, whatever their own q (analysis.strategywide)" for m in moved)


def _judged(key: str, judged: tuple[np.ndarray, np.ndarray, float], raw: tuple[np.ndarray, np.ndarray],
            factor: float, alpha: float, q: float, p: float) -> CellChange:
    """compare_cell on the judged figures (relative or raw), showing the raw medians either way."""
    base, new, drift = judged
    change = compare_cell(key, base, new, factor, alpha, drift, q, p)
    if drift == 1.0 and base is not raw[0]:
        change = replace(change, base_median_ns=float(np.median(raw[0])), new_median_ns=float(np.median(raw[1])),
                         paired=True)
    return change


def _paired_notes(paired: int, timed: int, shaken: int) -> tuple[str, ...]:
    notes = []
    if paired:
        notes.append(f"{paired} of {timed} cells judged on their time relative to a sequential reference paired "
                     "with each repeat in the same probe (a slower machine slows both sides); the ratio and CI "
                     "shown are of that relative time (--raw judges raw times)")
    if shaken:
        notes.append(f"{shaken} cell(s) not compared: other tenants used their CPUs during most repeats of one "
                     "run (listed as 'not compared'; measure again on a quieter machine)")
    return tuple(notes)


def _drift_notes(drift: float, cells: int, absolute: bool) -> tuple[str, ...]:
    if absolute or cells < MIN_DRIFT_CELLS:
        why = "--absolute" if absolute else f"only {cells} common timed cell(s), fewer than {MIN_DRIFT_CELLS}"
        return (f"cells judged on their raw times ({why}): a machine that ran one whole run slower shows as "
                "regressions",)
    way = "slower" if drift >= 1 else "faster"
    return (f"the new run is {abs(drift - 1):.1%} {way} than the base across the board (median ratio of {cells} "
            "cells): each cell is judged relative to that. A machine under other load, or a change that slows "
            "everything alike, shows here rather than per cell (--absolute judges raw times)",)


def _run_id(df: pd.DataFrame) -> str:
    return str(df["run_id"].iloc[0]) if len(df) else "?"
