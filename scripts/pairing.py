"""What pairing buys: a speedup's 95% CI from per-pair ratios (paired, parbench's method) against the same
repeats read unpaired (the sequential cell's median over the cell's, a CI from both medians' CIs), side by
side in one run; and the course figure, shared-memory on array-sum python 1e7 at 2 workers.

Runs one sweep (sequential and shared-memory, array-sum python 1e6 and 1e7, 2 workers) unless given a run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import parbench
from parbench.analysis.stats import median_ci

SWEEP: dict[str, Any] = {"workloads": ["array-sum"], "kernels": ["python"], "sizes": ["1e6", "1e7"],
                         "strategies": ["sequential", "shared-memory"], "workers": [2], "repeat": 10, "warmup": 1,
                         "rounds": 2, "seed": 1}


def sweep(results: Path) -> Path:
    return parbench.sweep(**SWEEP, results=results, run_id="pair", progress=False).path


def unpaired_ci(seq: np.ndarray, cell: np.ndarray) -> tuple[float, float, float]:
    """Median ratio of two separate cells' medians, and the CI their medians' CIs allow."""
    (s_low, s_high), (c_low, c_high) = median_ci(seq), median_ci(cell)
    return float(np.median(seq) / np.median(cell)), s_low / c_high, s_high / c_low


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", nargs="?", type=Path, help="a run of the cells above (default: measure one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parbench-pairing-") as scratch:
        df = parbench.load(args.run or sweep(Path(scratch)))
    summary = parbench.summarize(df)
    for size in (1_000_000, 10_000_000):
        at = df[df["size"] == size]
        seq = at[at["strategy"] == "sequential"]["wall_ns"].dropna().to_numpy(dtype=float)
        cell = at[at["strategy"] == "shared-memory"]
        walls = cell["wall_ns"].dropna().to_numpy(dtype=float)
        s, low, high = unpaired_ci(seq, walls)
        row = summary[(summary["size"] == size) & (summary["strategy"] == "shared-memory")].iloc[0]
        print(f"array-sum python {size:.0e}, shared-memory x2, {len(walls)} repeats:")
        print(f"  unpaired: {s:.2f}x (95% CI {low:.2f}-{high:.2f}, half-width {(high - low) / 2 / s:.1%})")
        print(f"  paired:   {row['speedup']:.2f}x (95% CI {row['speedup_low']:.2f}-{row['speedup_high']:.2f}, "
              f"half-width {(row['speedup_high'] - row['speedup_low']) / 2 / row['speedup']:.1%}), "
              f"{int(row['clean_pairs'])} of {int(row['pairs'])} pairs clean, status {row['status']}"
              + (f" ({row['suspect']})" if row["suspect"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
