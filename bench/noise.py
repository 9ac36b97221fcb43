"""Measure the bench suite's run-to-run noise: run it N times, report each benchmark's median spread.

    python bench/noise.py [--runs 3] [--out results/bench/noise] [-- PYTEST_ARGS]

Spread of a benchmark = (largest - smallest of its N medians) / smallest, in percent: the slowdown an
unchanged tree can show against its own baseline, which the gate's threshold must stay above.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from gate import PYTEST_BENCH_ARGS, SUITE

ROOT = Path(__file__).resolve().parent.parent


def run_suite(out: Path, extra: list[str]) -> dict[str, float]:
    # The gate's own options, so the noise measured is the noise the gate sees.
    cmd = [sys.executable, "-m", "pytest", SUITE, *PYTEST_BENCH_ARGS, "-q", f"--benchmark-json={out}", *extra]
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return {b["name"]: b["stats"]["median"] for b in json.loads(out.read_text())["benchmarks"]}


def spread(medians: list[float]) -> float:
    return (max(medians) / min(medians) - 1) * 100


def report(runs: list[dict[str, float]]) -> list[float]:
    """Print one Markdown row per benchmark (noisiest first); return the spreads."""
    names = sorted(set.intersection(*(set(r) for r in runs)))
    rows = sorted(((spread([r[n] for r in runs]), n) for n in names), reverse=True)
    print("| benchmark | " + " | ".join(f"run {i + 1} median (ms)" for i in range(len(runs))) + " | spread |")
    print("|---|" + "---|" * len(runs) + "---|")
    for value, name in rows:
        cells = " | ".join(f"{r[name] * 1e3:.2f}" for r in runs)
        print(f"| {name} | {cells} | {value:.1f}% |")
    return [value for value, _ in rows]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "noise")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = [run_suite(args.out / f"run{i + 1}.json", args.pytest_args) for i in range(args.runs)]
    spreads = report(runs)
    quartiles = statistics.quantiles(spreads, n=20)
    print(f"\n{len(spreads)} benchmarks, {args.runs} runs: median spread {statistics.median(spreads):.1f}%, "
          f"p90 {quartiles[17]:.1f}%, p95 {quartiles[18]:.1f}%, max {max(spreads):.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
