"""Physical consistency checks (DESIGN 5b, "physics first"): a summarised cell that breaks one is SUSPECT.

A measurement that breaks physics measured the machine, not the code: a baseline starved by another tenant,
a vCPU that slowed down between two probes. Such a cell keeps its numbers (they are evidence) but gets the
status SUSPECT and the rule it broke, with its figures, in `suspect`; every reader that asks for the cells
that count (parbench.analysis.scaling.ok_rows: winners, tables, fits, crossovers) then leaves it out.

The rules, each with the tolerance its own 95% CI gives (tol = CI half-width / speedup, never a constant):
  workers      S <= p x (1 + tol), unless the workload says superlinear speedups are possible;
  one worker   a 1-worker cell is not faster than sequential beyond its CI (S_low <= 1);
  CPU time     for CPU-bound kernels S <= u x p x (1 + tol), u the cell's CPU utilisation: the parallel tree
               cannot finish the reference's work burning less CPU than the reference's wall time
               (not checked for the distributed family, whose nodes may burn CPU outside the probe's tree);
  reference    the sequential reference of a CPU-bound kernel ran at >= 90% of a CPU (below: it was starved).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

REFERENCE_UTILISATION = 0.90
# The summary status of a cell that breaks a rule (records never carry it: it is a reading, not a run result).
SUSPECT = "SUSPECT"


def tolerance(row: pd.Series) -> float:
    """The relative half-width of a cell's speedup CI: how far its figure may honestly be off."""
    s, low, high = row.get("speedup"), row.get("speedup_low"), row.get("speedup_high")
    if not (pd.notna(s) and pd.notna(low) and pd.notna(high)) or s <= 0:
        return 0.0
    return float(high - low) / (2 * float(s))


def _cpu_bound(row: pd.Series) -> bool:
    return bool(row.get("cpu_bound")) and pd.notna(row.get("cpu_bound"))


def violations(row: pd.Series) -> Iterator[str]:
    """Each rule `row` (one summarised OK cell) breaks, with its numbers."""
    s, p = row.get("speedup"), int(row["workers"])
    if row["strategy"] == "sequential":
        yield from _reference_starved(row, row.get("utilisation"), "sequential")
        return
    if not pd.notna(s):
        return
    tol = tolerance(row)
    ci = f"95% CI {row['speedup_low']:.2f}-{row['speedup_high']:.2f}"
    if p == 1 and row["speedup_low"] > 1:
        yield f"one worker beats sequential: {s:.2f}x ({ci})"
    elif p > 1 and not row.get("superlinear") and s > p * (1 + tol):
        yield f"speedup {s:.2f}x above its {p} workers ({ci})"
    util = row.get("utilisation")
    if _cpu_bound(row) and row.get("family") != "distributed" and pd.notna(util) and s > util * p * (1 + tol):
        yield (f"speedup {s:.2f}x above what its CPU time allows: utilisation {util:.0%} x {p} worker(s) = "
               f"{util * p:.2f} ({ci})")
    yield from _reference_starved(row, row.get("ref_utilisation"), "its sequential reference")


def _reference_starved(row: pd.Series, util: object, what: str) -> Iterator[str]:
    if _cpu_bound(row) and isinstance(util, float) and pd.notna(util) and util < REFERENCE_UTILISATION:
        yield (f"{what} ran at {util:.0%} of a CPU on a CPU-bound kernel (under {REFERENCE_UTILISATION:.0%}: "
               "another tenant took its CPU)")


def check_physics(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary with `suspect` (the broken rules, '; '-joined, or '') and status SUSPECT where one broke."""
    out = summary.copy()
    reasons = [("; ".join(violations(row)) if row["status"] == "OK" else "") for _, row in out.iterrows()]
    out["suspect"] = reasons
    out.loc[out["suspect"] != "", "status"] = SUSPECT
    return out
