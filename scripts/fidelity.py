"""Does parbench measure what pyperf measures? And what does the harness itself cost?

1. Fidelity: sequential numpy array-sum at each size, measured by `parbench sweep` (its probe, pinned) and by
   `pyperf timeit` (pinned to the same CPU), interleaved in this one run. Prints the ratio of medians
   (target: 1 +- 3%). parbench times single calls; pyperf times back-to-back loops of them.
2. Overhead: a cell whose run does nothing (delayed-square, one item, no delay): the median time inside the
   timed window (what every measured value carries) and the whole cost of a repeat inside the probe
   (gc.collect and reading the CPU time of the process tree included, outside the window).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyperf

import parbench
from parbench.cpus import usable_cpus
from parbench.runner.affinity import least_busy

SETUP = """
from parbench import registry
from parbench.strategies.base import Context, PhaseClock
workload = registry.get_workload("array-sum").from_params({{"size": {size}, "kernel": "numpy"}})
strategy = registry.get_strategy("sequential")(Context(workload, workload.make_input(), 1))
strategy.setup()
"""


def sweep(results: Path, run_id: str, **spec: Any) -> Path:
    """One sequential sweep through the library layer (parbench.sweep), as `parbench sweep` runs it."""
    run = parbench.sweep(strategies=["sequential"], workers=[1], seed=0, results=results, run_id=run_id,
                         progress=False, **spec)
    return run.path


def parbench_values(results: Path, size: int, repeat: int, round_: int) -> list[float]:
    run = sweep(results, f"fidelity-{size}-{round_}", workloads=["array-sum"], kernels=["numpy"], sizes=[size],
                repeat=repeat, warmup=3)
    return [float(v) for v in parbench.load(run)["wall_ns"]]


def pyperf_values(results: Path, size: int, round_: int) -> list[float]:
    out = results / f"pyperf-{size}-{round_}.json"
    cpu = usable_cpus()[0]  # main() left this process one CPU: the sweep's probe gets the same
    subprocess.run([sys.executable, "-m", "pyperf", "timeit", "--quiet", "--affinity", str(cpu), "-p", "2",
                    "-o", str(out), "-s", SETUP.format(size=size), "strategy.run(PhaseClock())"], check=True,
                   stdout=subprocess.DEVNULL)
    return [v * 1e9 for v in pyperf.Benchmark.load(str(out)).get_values()]


def compare(results: Path, size: int, repeat: int, rounds: int) -> tuple[list[float], list[float]]:
    """Both harnesses, interleaved for `rounds` rounds (alternating who goes first), so that the machine's drift
    falls on both alike: all their values."""
    ours: list[float] = []
    theirs: list[float] = []
    for round_ in range(rounds):
        for harness in ("parbench", "pyperf") if round_ % 2 == 0 else ("pyperf", "parbench"):
            if harness == "parbench":
                ours.extend(parbench_values(results, size, repeat, round_))
            else:
                theirs.extend(pyperf_values(results, size, round_))
    return ours, theirs


def _noop(results: Path, run_id: str, repeat: int) -> dict[str, Any]:
    run = sweep(results, run_id, workloads=["delayed-square"], sizes=[1], delay=[0], repeat=repeat, warmup=0)
    record: dict[str, Any] = json.loads((run / "records.jsonl").read_text().splitlines()[0])
    return record


def overhead(results: Path, few: int = 100, many: int = 2100) -> tuple[float, float]:
    """Median no-op time inside the window, and the marginal cost of one more repeat in the probe (from the
    difference between a probe doing `many` repeats and one doing `few`)."""
    short, long = _noop(results, "noop-few", few), _noop(results, "noop-many", many)
    timed = [s["wall_ns"] for s in long["samples"]]
    return statistics.median(timed), (long["probe_wall_ns"] - short["probe_wall_ns"]) / (many - few)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000", help="array sizes (default: 10^6 and 10^7)")
    parser.add_argument("--repeat", type=int, default=10, help="parbench repeats per size and round (default: 10)")
    parser.add_argument("--rounds", type=int, default=12, help="interleaved rounds of both harnesses (default: 12)")
    args = parser.parse_args()
    # One CPU for both harnesses, the fastest now (least_busy times each): the sweep inherits this affinity.
    os.sched_setaffinity(0, least_busy(1))
    with tempfile.TemporaryDirectory(prefix="parbench-fidelity-") as scratch:
        results = Path(scratch)
        for size in (int(float(s)) for s in args.sizes.split(",")):
            ours, theirs = compare(results, size, args.repeat, args.rounds)
            mid, their_mid = statistics.median(ours), statistics.median(theirs)
            print(f"array-sum numpy 1e{len(str(size)) - 1}: parbench {mid / 1e3:9.1f} us   pyperf "
                  f"{their_mid / 1e3:9.1f} us   ratio {mid / their_mid:.3f} ({(mid / their_mid - 1) * 100:+.1f}%)")
            print(f"  (minimums: parbench {min(ours) / 1e3:.1f} us, pyperf {min(theirs) / 1e3:.1f} us, "
                  f"ratio {min(ours) / min(theirs):.3f})")
        inside, per_repeat = overhead(results)
        print(f"no-op cell: {inside / 1e3:.1f} us inside the timed window (median); {per_repeat / 1e3:.1f} us per "
              "repeat inside the probe in all (gc.collect and tree CPU reads between repeats included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
