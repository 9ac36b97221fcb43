"""How reproducible is a sweep? Two runs of the same cells, compared cell by cell on their medians.

Without arguments, runs the quick preset twice back to back (same seed, so the same order) in a scratch
folder; with two run folders, compares those. Prints how many cells agree within 10% (target: >= 90%) and
the cells that disagree most.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

import parbench

TOLERANCE = 0.10


def quick_sweep(results: Path, run_id: str) -> Path:
    subprocess.run([sys.executable, "-m", "parbench", "sweep", "--preset", "quick", "--seed", "1", "--results",
                    str(results), "--run-id", run_id], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return results / run_id


def agreement(first: Path, second: Path) -> pd.DataFrame:
    """Per cell OK in both runs: both medians and their ratio."""
    a = parbench.summarize(parbench.load(first))
    b = parbench.summarize(parbench.load(second))
    both = a.merge(b[["key", "median_ns", "status"]], on="key", suffixes=("", "_b"))
    both = both[(both["status"] == "OK") & (both["status_b"] == "OK")]
    both["ratio"] = both["median_ns_b"] / both["median_ns"]
    both["agrees"] = (both["ratio"] - 1).abs() <= TOLERANCE
    return both


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=Path, help="two run folders (default: run two quick sweeps)")
    args = parser.parse_args()
    if args.runs and len(args.runs) != 2:
        parser.error("give two run folders, or none")
    with tempfile.TemporaryDirectory(prefix="parbench-repro-") as scratch:
        first, second = args.runs or [quick_sweep(Path(scratch), name) for name in ("first", "second")]
        both = agreement(first, second)
    share = both["agrees"].mean()
    print(f"{int(both['agrees'].sum())} of {len(both)} cells ({share:.0%}) agree within {TOLERANCE:.0%} "
          f"(median |ratio - 1|: {(both['ratio'] - 1).abs().median():.1%})")
    worst = both.assign(off=(both["ratio"] - 1).abs()).sort_values("off", ascending=False).head(5)
    for _, row in worst.iterrows():
        print(f"  {row['workload']} {row['strategy']} x{row['workers']} size={row['size']}: "
              f"{row['median_ns'] / 1e6:.3g} ms vs {row['median_ns_b'] / 1e6:.3g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
