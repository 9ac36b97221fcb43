"""How reproducible is a sweep? Back-to-back quick sweeps (or given run folders), compared on what a user reads.

Without run folders, runs the quick preset `--runs` times back to back (same seed, so the same order) in a
scratch folder; `--load` starts one CPU-bound process pinned to the last usable CPU for the last run and stops
it by its PID afterwards. Prints, over all runs:
  - winner agreement: per workload point, each run's leader (parbench.analysis.scaling.leader: the strategy
    whose paired-speedup CI is above every other's, or "none clearly"), and whether all runs agree;
  - speedup agreement between the first two runs: the share of cells OK (not SUSPECT) in both whose paired
    speedups differ by at most 10% (|S_a - S_b| / S_a), target >= 90%;
  - medians agreement between the first two runs (raw wall-time medians within 10%), as before pairing;
  - per run: cells presented as results that break a physical rule (must be 0), SUSPECT cells (flagged, with
    reasons), the share of repeats disturbed by other tenants, and the sweep's wall time;
  - `parbench compare` (default, paired mode) of the first run against each other run: regressed / improved.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

import parbench
from parbench.analysis.compare import compare_runs
from parbench.analysis.physics import SUSPECT, violations
from parbench.analysis.scaling import annotate, leader
from parbench.analysis.trust import assess

TOLERANCE = 0.10


def quick_sweep(results: Path, run_id: str) -> tuple[Path, float]:
    t0 = time.monotonic()
    run = parbench.sweep(preset="quick", seed=1, results=results, run_id=run_id, progress=False)
    return run.path, time.monotonic() - t0


@contextlib.contextmanager
def cpu_hog() -> Iterator[int]:
    """One busy-looping process pinned to the last usable CPU, stopped by its PID on the way out."""
    cpu = max(os.sched_getaffinity(0))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(hog.pid, {cpu})
        print(f"CPU hog: pid {hog.pid} pinned to CPU {cpu}", flush=True)
        yield hog.pid
    finally:
        os.kill(hog.pid, signal.SIGKILL)
        hog.wait()


def summaries(runs: list[Path]) -> list[pd.DataFrame]:
    return [annotate(parbench.summarize(parbench.load(run))) for run in runs]


def winners(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Per workload point (rows) and run (columns): the leader's strategy, or 'none clearly'."""
    found: dict[str, dict[str, str]] = {}
    for i, table in enumerate(tables):
        for _, rows in table.groupby("point", sort=False):
            found.setdefault(_point_name(rows), {})[f"run {i + 1}"] = leader(rows).strategy()
    out = pd.DataFrame(found).T.sort_index()
    out["agree"] = out.nunique(axis=1) == 1
    return out


def _point_name(rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    params = " ".join(f"{k}={first[k]}" for k in ("size", "kernel", "delay") if k in rows and pd.notna(first[k]))
    return f"{first['workload']} {params}"


def speedup_agreement(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, int]:
    """(agreeing, compared): parallel cells OK in both runs, speedups within TOLERANCE."""
    both = a.merge(b[["key", "status", "speedup"]], on="key", suffixes=("", "_b"))
    both = both[(both["status"] == "OK") & (both["status_b"] == "OK") & (both["strategy"] != "sequential")]
    off = (both["speedup_b"] - both["speedup"]).abs() / both["speedup"]
    return int((off <= TOLERANCE).sum()), len(both)


def median_agreement(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, int]:
    both = a.merge(b[["key", "status", "median_ns"]], on="key", suffixes=("", "_b"))
    both = both[(both["status"] == "OK") & (both["status_b"] == "OK")]
    off = (both["median_ns_b"] / both["median_ns"] - 1).abs()
    return int((off <= TOLERANCE).sum()), len(both)


def physics_line(table: pd.DataFrame) -> str:
    """Cells shown as results that still break a rule (re-checked here), and the SUSPECT ones."""
    shown = table[table["status"] == "OK"]
    broken = sum(1 for _, row in shown.iterrows() if next(violations(row), None))
    suspect = table[table["status"] == SUSPECT]
    return f"{broken} cells presented as results break a physical rule; {len(suspect)} SUSPECT (flagged, with reasons)"


def _share(n: int, of: int) -> str:
    return f"{n} of {of} ({n / of:.0%})" if of else "0 of 0"


def report(runs: list[Path], elapsed: list[float | None]) -> None:
    tables = summaries(runs)
    table = winners(tables)
    print(table.to_string())
    print(f"winner agreement: {_share(int(table['agree'].sum()), len(table))} workload points agree in all runs")
    print(f"speedup agreement (runs 1-2): {_share(*speedup_agreement(tables[0], tables[1]))} parallel cells "
          f"within {TOLERANCE:.0%}")
    print(f"medians agreement (runs 1-2): {_share(*median_agreement(tables[0], tables[1]))} cells within "
          f"{TOLERANCE:.0%}")
    for i, (run, summary) in enumerate(zip(runs, tables, strict=True)):
        took = f"; sweep {elapsed[i]:.0f} s" if elapsed[i] is not None else ""
        print(f"run {i + 1}: {physics_line(summary)}{took}")
        print(f"  {assess(summary, parbench.load(run)).line()}")
        for _, row in summary[summary["status"] == SUSPECT].iterrows():
            print(f"    SUSPECT {row['label']} x{row['workers']} size={row.get('size')}: {row['suspect']}")
    base = parbench.load(runs[0])
    for i, run in enumerate(runs[1:], 2):
        found = compare_runs(base, parbench.load(run))
        print(f"compare run 1 -> run {i} (paired, default): {len(found.regressed)} regressed, "
              f"{len(found.improved)} improved of {len(found.cells)} common cells")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path, help="run folders to compare (default: run quick sweeps)")
    parser.add_argument("--runs", dest="count", type=int, default=2, help="quick sweeps to run (default 2)")
    parser.add_argument("--load", action="store_true", help="a CPU hog on the last CPU during the last sweep")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the sweeps' runs in DIR (default: a scratch "
                        "folder, removed at the end)")
    args = parser.parse_args()
    if len(args.runs) == 1 or args.count < 2:
        parser.error("give two or more run folders, or none (and --runs 2 or more)")
    with tempfile.TemporaryDirectory(prefix="parbench-repro-") as scratch:
        where = args.keep or Path(scratch)
        runs: list[Path] = list(args.runs)
        elapsed: list[float | None] = [None] * len(runs)
        for i in range(0 if runs else args.count):
            hog = cpu_hog() if args.load and i == args.count - 1 else contextlib.nullcontext()
            with hog:
                run, took = quick_sweep(where, f"run{i + 1}")
            runs.append(run)
            elapsed.append(took)
        report(runs, elapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
