"""Side-by-side figures for the cluster strategies, measured in one run (issue 5's performance section).

Every cell runs in a fresh `parbench run --json` process, cells interleaved round by round so machine noise
lands on all of them alike. Prints two tables:

1. delayed-square 8 x 0.1 s at 2 workers: pool-map, dispy, dask, joblib; steady state (median run),
   end-to-end (setup + median run + teardown) and per-job overhead = (steady - ideal) / jobs, where ideal
   = size x delay / workers.
2. array-sum 10^7, python kernel, 2 workers: every local strategy, dispy, dask and joblib; median run and
   speedup over sequential; then the best local strategy's time against joblib's and dask's.
3. The engines (issue 12), `--tables engines`: per-task overhead (delayed-square 64 x 1 ms at 2 workers: steady
   minus the ideal 32 ms, per task), start-up cost (setup) and array-sum python speedup at 2 workers, for
   pool-map, joblib, dask, dispy, ray, mpire, mpi and mpi-pickle, beside the published anchors, with each
   engine's per-task overhead as a ratio to pool-map's in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

PEERS = ("dispy", "dask", "joblib")
ENGINES = ("pool-map", "joblib", "dask", "dispy", "ray", "mpire", "mpi", "mpi-pickle")
# What others published, to set these measurements against (issue 12; other machines, other sizes).
ANCHORS = {
    "pool-map": "MPIRE's benchmark: 0.36 normalised time at 20 workers",
    "joblib": "MPIRE's benchmark: 0.32",
    "dask": "~0.2 ms per task (threaded scheduler); MPIRE's benchmark: 0.17",
    "ray": "~0.115 ms per async task, ~1.1 ms sync round trip (Ray 2.9); MPIRE's: 0.06",
    "mpire": "MPIRE's benchmark: 0.05",
    "mpi": "Allreduce ~3.9x faster than pickle-based allreduce (a published solver)",
    "mpi-pickle": "see mpi",
}
# Not candidates for "best local": wrong by design, or GIL-bound on the python kernel's timings anyway.
NOT_LOCAL = ("value-nolock", *PEERS)


def run_cell(workload: str, params: Sequence[str], strategy: str, workers: int, repeat: int) -> dict[str, Any]:
    args = [sys.executable, "-m", "parbench", "run", "--json", "--workload", workload, *params,
            "--strategy", strategy, "--workers", str(workers), "--repeat", str(repeat), "--warmup", "1"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    if not proc.stdout.strip():
        raise SystemExit(f"{strategy}: no record ({proc.stderr.strip()})")
    record: dict[str, Any] = json.loads(proc.stdout)
    if record["status"] != "OK":
        raise SystemExit(f"{strategy}: {record['status']} {record['error']}")
    return record


def measure_all(workload: str, params: Sequence[str], strategies: Sequence[str], workers: int, repeat: int,
                rounds: int) -> dict[str, list[dict[str, Any]]]:
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for _ in range(rounds):
        for strategy in strategies:
            records[strategy].append(run_cell(workload, params, strategy, 1 if strategy == "sequential" else workers,
                                              repeat))
    return records


def steady_s(records: list[dict[str, Any]]) -> float:
    return statistics.median(s["wall_ns"] for r in records for s in r["samples"] if not s["warmup"]) / 1e9


def end_to_end_s(records: list[dict[str, Any]]) -> float:
    return statistics.median((r["setup_ns"] + r["teardown_ns"]) / 1e9 for r in records) + steady_s(records)


def delayed_square_table(repeat: int, rounds: int) -> None:
    size, delay, workers = 8, 0.1, 2
    ideal = size * delay / workers
    records = measure_all("delayed-square", ["--size", str(size), "--delay", str(delay)],
                          ["pool-map", *PEERS], workers, repeat, rounds)
    print(f"delayed-square {size} x {delay} s, {workers} workers (ideal {ideal * 1e3:.0f} ms)")
    print(f"{'strategy':<12}{'steady ms':>11}{'end-to-end ms':>15}{'overhead ms/job':>17}")
    for strategy, recs in records.items():
        steady = steady_s(recs)
        print(f"{strategy:<12}{steady * 1e3:>11.1f}{end_to_end_s(recs) * 1e3:>15.1f}"
              f"{(steady - ideal) / size * 1e3:>17.2f}")


def local_strategies() -> list[str]:
    from parbench import registry

    return [name for name, entry in registry.strategies().items()
            if entry.obj is not None and entry.obj.family != "distributed" and name not in NOT_LOCAL
            and entry.obj.available() is None]


def array_sum_table(size: str, repeat: int, rounds: int) -> None:
    workers = 2
    strategies = [*local_strategies(), *PEERS]
    records = measure_all("array-sum", ["--size", size, "--kernel", "python"], strategies, workers, repeat, rounds)
    base = steady_s(records["sequential"])
    print(f"\narray-sum {size}, python kernel, {workers} workers (sequential {base * 1e3:.0f} ms)")
    print(f"{'strategy':<24}{'steady ms':>11}{'speedup':>9}")
    for strategy, recs in sorted(records.items(), key=lambda item: steady_s(item[1])):
        print(f"{strategy:<24}{steady_s(recs) * 1e3:>11.1f}{base / steady_s(recs):>9.2f}")
    local = {s: steady_s(r) for s, r in records.items() if s not in PEERS and s != "sequential"}
    best = min(local, key=local.__getitem__)
    for peer in ("joblib", "dask"):
        ratio = steady_s(records[peer]) / local[best]
        verdict = "best local at least as fast" if ratio >= 1 else "best local SLOWER"
        print(f"{peer} / best local ({best}): {ratio:.2f}x ({verdict})")


def engines_table(size: str, repeat: int, rounds: int) -> None:
    tasks, delay, workers = 64, 0.001, 2
    ideal = tasks * delay / workers
    squares = measure_all("delayed-square", ["--size", str(tasks), "--delay", str(delay)], ENGINES, workers, repeat,
                          rounds)
    sums = measure_all("array-sum", ["--size", size, "--kernel", "python"], ["sequential", *ENGINES], workers,
                       repeat, rounds)
    base = steady_s(sums["sequential"])
    per_task = {s: (steady_s(r) - ideal) / tasks for s, r in squares.items()}
    print(f"\nengines at {workers} workers: per-task overhead on delayed-square {tasks} x {delay * 1e3:g} ms (ideal "
          f"{ideal * 1e3:.0f} ms), setup, array-sum {size} python speedup (sequential {base * 1e3:.0f} ms)")
    print(f"{'strategy':<12}{'ms/task':>9}{'vs pool-map':>13}{'setup ms':>10}{'speedup':>9}  published")
    for strategy in ENGINES:
        setup = statistics.median(r["setup_ns"] for r in squares[strategy]) / 1e6
        print(f"{strategy:<12}{per_task[strategy] * 1e3:>9.3f}{per_task[strategy] / per_task['pool-map']:>12.1f}x"
              f"{setup:>10.0f}{base / steady_s(sums[strategy]):>9.2f}  {ANCHORS.get(strategy, '')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats per cell (default: 5)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds over all cells (default: 2)")
    parser.add_argument("--size", default="1e7", help="array-sum size (default: 1e7)")
    parser.add_argument("--tables", choices=["all", "peers", "engines"], default="all",
                        help="peers: tables 1 and 2; engines: table 3 (default: all)")
    args = parser.parse_args()
    if args.tables in ("all", "peers"):
        delayed_square_table(args.repeat, args.rounds)
        array_sum_table(args.size, args.repeat, args.rounds)
    if args.tables in ("all", "engines"):
        engines_table(args.size, args.repeat, args.rounds)


if __name__ == "__main__":
    main()
