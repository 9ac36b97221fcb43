"""How reproducible is a sweep? Two runs of the same cells, compared cell by cell on their medians.

Without arguments, runs the quick preset twice back to back (same seed, so the same order) in a scratch
folder; with two run folders, compares those. Prints how many cells agree within 10% (target: >= 90%), also among
the cells the canary saw timed at the machine's own speed in both runs, and the cells that disagree most.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

import parbench
from parbench.results.schema import SLOW_MACHINE

TOLERANCE = 0.10


def quick_sweep(results: Path, run_id: str) -> Path:
    subprocess.run([sys.executable, "-m", "parbench", "sweep", "--preset", "quick", "--seed", "1", "--results",
                    str(results), "--run-id", run_id], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return results / run_id


def _canaries(df: pd.DataFrame) -> pd.DataFrame:
    """Per cell: how many CPUs it held and the median canary of its visits (how fast those CPUs ran)."""
    return df.groupby("key").agg(cpus_held=("cpus_granted", "first"), canary=("canary_ns", "median")).reset_index()


def agreement(first: Path, second: Path) -> pd.DataFrame:
    """Per cell OK in both runs: both medians, their ratio, and whether both were timed at full speed."""
    frames = [parbench.load(first), parbench.load(second)]
    a, b = (parbench.summarize(f).merge(_canaries(f), on="key") for f in frames)
    both = a.merge(b[["key", "median_ns", "status", "canary"]], on="key", suffixes=("", "_b"))
    both = both[(both["status"] == "OK") & (both["status_b"] == "OK")]
    both["ratio"] = both["median_ns_b"] / both["median_ns"]
    both["agrees"] = (both["ratio"] - 1).abs() <= TOLERANCE
    # The same CPUs at the same speed in both runs (runner.canary, against the best of both runs for as many
    # CPUs): a VM whose vCPU ran 1.8x slower through one whole run differs from itself, not the harness.
    best = pd.concat([both[["cpus_held", "canary"]], both[["cpus_held", "canary_b"]].set_axis(
        ["cpus_held", "canary"], axis=1)]).groupby("cpus_held")["canary"].min()
    limit = both["cpus_held"].map(best) * SLOW_MACHINE
    both["steady"] = (both["canary"] <= limit) & (both["canary_b"] <= limit)
    return both


def _line(rows: pd.DataFrame, what: str) -> str:
    return (f"{int(rows['agrees'].sum())} of {len(rows)} {what} ({rows['agrees'].mean():.0%}) agree within "
            f"{TOLERANCE:.0%} (median |ratio - 1|: {(rows['ratio'] - 1).abs().median():.1%})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path, help="two run folders (default: run two quick sweeps)")
    args = parser.parse_args()
    if args.runs and len(args.runs) != 2:
        parser.error("give two run folders, or none")
    with tempfile.TemporaryDirectory(prefix="parbench-repro-") as scratch:
        first, second = args.runs or [quick_sweep(Path(scratch), name) for name in ("first", "second")]
        both = agreement(first, second)
    print(_line(both, "cells"))
    print(_line(both[both["steady"]], "cells whose CPUs ran at the same speed in both runs"))
    worst = both.assign(off=(both["ratio"] - 1).abs()).sort_values("off", ascending=False).head(5)
    for _, row in worst.iterrows():
        print(f"  {row['workload']} {row['strategy']} x{row['workers']} size={row['size']}: "
              f"{row['median_ns'] / 1e6:.3g} ms vs {row['median_ns_b'] / 1e6:.3g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
