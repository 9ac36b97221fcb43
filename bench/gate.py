"""The bench regression gate: run bench/ and compare with this machine's baseline, or save one.

    python bench/gate.py [--refresh] [--threshold PCT] [--baselines DIR] [--json FILE] [-- PYTEST_ARGS]

Baselines live in `<baselines>/<machine-id>/<pytest-benchmark id>/0001_baseline.json` (pytest-benchmark's
storage layout; its id names OS, Python implementation and version). With no baseline for this machine the
gate says so, saves one and passes. Otherwise it fails (exit 1) when any benchmark's median is more than
PCT % slower than the baseline's (`--benchmark-compare-fail=median:PCT%`) and names the benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from pytest_benchmark.utils import get_machine_id as _pytest_benchmark_id

from machine import machine_id

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD_ENV = "PARBENCH_BENCH_THRESHOLD"
# Percent a median may grow before the gate fails. Measured on the shared, noisy 2-CPU development machine
# (3 runs of the suite, bench/noise.py): median spread 22%, p95 123%, max 170% (pure-Python kernels while
# other jobs took a CPU). An unchanged tree must pass, so the default sits above the largest spread seen; on
# a quieter, dedicated runner measure again and lower it (README, "Regression gates in CI").
DEFAULT_THRESHOLD = 200
BASELINE_NAME = "0001_baseline.json"
# Raw round times go into the JSON too, so a later statistical comparison can use them.
PYTEST_BENCH_ARGS = ("bench", "--benchmark-save-data", "--benchmark-sort=name",
                     "--benchmark-columns=min,median,iqr,rounds")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench-gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--refresh", action="store_true", help="measure and replace this machine's baseline")
    parser.add_argument("--threshold", type=int, default=int(os.environ.get(THRESHOLD_ENV, DEFAULT_THRESHOLD)),
                        help=f"max median slowdown in percent (default {DEFAULT_THRESHOLD}, env {THRESHOLD_ENV})")
    parser.add_argument("--baselines", type=Path, default=ROOT / "results" / "baselines",
                        help="folder of per-machine baselines (default results/baselines)")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "bench" / "last.json",
                        help="where this run's pytest-benchmark JSON goes (default results/bench/last.json)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after `--` (e.g. -k pool-map)")
    return parser.parse_args(argv)


def pytest_benchmark_id() -> str:
    """pytest-benchmark's own folder name below a storage: OS, Python implementation, version, bits."""
    return str(_pytest_benchmark_id())  # type: ignore[no-untyped-call]


def baseline_dir(baselines: Path) -> Path:
    return baselines / machine_id() / pytest_benchmark_id()


def run_pytest(extra: list[str], json_out: Path) -> int:
    json_out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", *PYTEST_BENCH_ARGS, f"--benchmark-json={json_out}", *extra]
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=ROOT, check=False).returncode


def save_baseline(args: argparse.Namespace, target: Path) -> int:
    """Run the suite into a temporary file; only a fully passing run replaces the baseline."""
    with tempfile.TemporaryDirectory(prefix="parbench-bench-") as tmp:
        fresh = Path(tmp) / BASELINE_NAME
        rc = run_pytest(args.pytest_args, fresh)
        if rc != 0:
            print(f"bench gate: the benchmarks failed (pytest exit {rc}); baseline NOT saved", flush=True)
            return rc
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*.json"):
            old.unlink()
        shutil.copyfile(fresh, target / BASELINE_NAME)
    count = len(load(target / BASELINE_NAME))
    print(f"bench gate: saved baseline {rel(target / BASELINE_NAME)} ({count} benchmarks)", flush=True)
    shutil.copyfile(target / BASELINE_NAME, args.json)
    return 0


def compare(args: argparse.Namespace, baseline: Path) -> int:
    storage = baseline.parent.parent  # pytest-benchmark appends its own id below the storage folder
    extra = [f"--benchmark-storage=file://{storage}", f"--benchmark-compare={baseline.stem.split('_')[0]}",
             f"--benchmark-compare-fail=median:{args.threshold}%", *args.pytest_args]
    rc = run_pytest(extra, args.json)
    summarise(load(baseline), load(args.json) if args.json.exists() else {}, args.threshold, rel(baseline))
    print(f"bench gate: {'PASSED' if rc == 0 else 'FAILED'} (threshold: median +{args.threshold}%, "
          f"baseline {rel(baseline)}, machine {machine_id()})", flush=True)
    return rc


def load(path: Path) -> dict[str, dict[str, Any]]:
    """fullname -> stats of every benchmark in a pytest-benchmark JSON file."""
    return {b["fullname"]: b["stats"] for b in json.loads(path.read_text())["benchmarks"]}


def summarise(base: dict[str, dict[str, Any]], now: dict[str, dict[str, Any]], threshold: int, source: str,
              ) -> None:
    """Name the regressed benchmarks in one readable block, and those the baseline does not gate yet."""
    for name in sorted(now.keys() & base.keys()):
        before, after = base[name]["median"], now[name]["median"]
        change = (after / before - 1) * 100 if before else float("inf")
        if change > threshold:
            print(f"REGRESSED {name}: median {before * 1e3:.2f} ms -> {after * 1e3:.2f} ms ({change:+.0f}%)")
    new = sorted(now.keys() - base.keys())
    if new:
        print(f"not gated yet ({len(new)} benchmark(s) absent from {source}; refresh with "
              f"`tox -e bench-baseline`): {', '.join(new)}")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    target = baseline_dir(args.baselines)
    existing = sorted(target.glob("[0-9][0-9][0-9][0-9]_*.json"))
    if args.refresh:
        print(f"bench gate: refreshing the baseline for {machine_id()} in {rel(target)}", flush=True)
        return save_baseline(args, target)
    if not existing:
        print(f"bench gate: no baseline for {machine_id()} ({pytest_benchmark_id()}) in {rel(target)}: saving one "
              "instead of comparing", flush=True)
        return save_baseline(args, target)
    return compare(args, existing[-1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
