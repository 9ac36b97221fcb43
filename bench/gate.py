"""The bench regression gate: run bench/ and compare it with the baseline of a comparable machine.

    python bench/gate.py [--metric paired|raw] [--threshold PCT] [--alpha A] [--confirm N] [--save-if-missing]
                         [--refresh] [--add-session] [--sessions N] [--baselines DIR] [--json FILE] [-- PYTEST_ARGS]

What is compared (`--metric paired`, the default): each benchmark's ratio to `sequential` at the same workload
point, T_cell / T_sequential, measured pair by pair, interleaved in random order in the same session
(extra_info["paired_ratio"], bench/harness.py). A benchmark REGRESSED when the median of its per-pair ratios
grew by more than the threshold over the baseline's AND a two-sided Mann-Whitney U test of the two sets of
per-pair ratios, Benjamini-Hochberg-adjusted over all benchmarks compared, gives q < alpha. `--metric raw`
applies the same rule to the raw round times (pytest-benchmark's median and data). Benchmarks over both limits
are re-run (`--confirm` times) and only those still over them fail the gate (exit 1).

Baselines: `<baselines>/<machine-id>/<pytest-benchmark id>/000N_baseline.json`, one file per session of the
unchanged tree (`--sessions N` when saving, `--add-session` to measure one more). A runner's speed and the
placement of a strategy's processes drift between sessions, minutes apart, in ways no same-session reference
cancels (a Manager's server round trips, say); so each benchmark is compared with its *slowest* baseline session:
it regresses only when it is slower than the unchanged tree was ever seen to be, by more than the threshold. The
gate uses the baseline of a machine of the same kind as this one (architecture, logical CPU count, Python
implementation and version: what the normalised figure depends on; the CPU model string is not), this machine's
own id first, and says which it used and how that machine differs. With none, it fails with one line (exit 2),
unless `--save-if-missing` (save one, pass). `--refresh` replaces the baseline in use (or saves this machine's).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pytest_benchmark.utils import get_machine_id as _pytest_benchmark_id

from machine import cpu_model, machine_id
from parbench.analysis.compare import mann_whitney_p
from parbench.analysis.stats import adjusted

ROOT = Path(__file__).resolve().parent.parent
THRESHOLD_ENV = "PARBENCH_BENCH_THRESHOLD"
Metric = Literal["paired", "raw"]
# Percent the compared figure may grow before a benchmark fails (with significance, below). An unchanged tree
# must pass, so each default sits above the run-to-run spread measured on the shared, noisy 2-CPU development
# machine (results/baselines/<machine-id>/NOISE.md, README "Regression gates in CI"):
# - paired: the paired ratio to sequential. 5 runs of 15 benchmarks on 2026-12-02, one with a busy loop pinned to
#   one of the 2 CPUs: against the committed baseline the largest growth was +14.4 % (not significant), the
#   largest significant one +10.3 %; all 5 passed at 20 %, 15 % would have had half a point to spare. 20 % still
#   lets the gate catch 1.3x on most benchmarks (NOISE.md: per benchmark, the smallest slowdown caught).
# - raw: a median's own time, which carries the runner's drift: 3 runs on 2026-11-20 spread by up to 170 %.
DEFAULT_THRESHOLDS: dict[Metric, int] = {"paired": 20, "raw": 200}
# The false discovery rate among benchmarks flagged: ~90 benchmarks are tested at once, and the threshold alone
# would let one benchmark's unlucky run fail the gate.
DEFAULT_ALPHA = 0.05
# Contention from other jobs comes in bursts: a benchmark over both limits is re-run, and only one that stays
# over them in the re-run fails.
DEFAULT_CONFIRM = 1
NO_BASELINE_EXIT = 2
BASELINE_GLOB = "[0-9][0-9][0-9][0-9]_baseline.json"
# Sessions a saved baseline measures: a benchmark's ratio can move between two modes from one session to the next
# (NOISE.md: manager x1 1.38 and 2.13 on an unchanged tree); three sessions give the slowest one a fair chance to
# be seen, at ~12 minutes each on the 2-CPU machine.
DEFAULT_SESSIONS = 3
SUITE = "bench"
# Raw round times go into the JSON too: the raw metric tests them. Never under pytest-xdist: two benchmarks at once
# would time each other (pytest-benchmark disables itself there, and writes no JSON).
PYTEST_BENCH_ARGS = ("-p", "no:xdist", "--benchmark-save-data", "--benchmark-sort=name",
                     "--benchmark-columns=min,median,iqr,rounds")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench-gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--metric", choices=("paired", "raw"), default="paired",
                        help="paired: ratio to sequential measured pair by pair (default); raw: the round times")
    parser.add_argument("--threshold", type=float, default=None,
                        help=f"max growth in percent (default {DEFAULT_THRESHOLDS}, env {THRESHOLD_ENV})")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                        help=f"max Benjamini-Hochberg q of a regression (default {DEFAULT_ALPHA})")
    parser.add_argument("--confirm", type=int, default=DEFAULT_CONFIRM,
                        help=f"re-runs of regressed benchmarks before failing (default {DEFAULT_CONFIRM})")
    parser.add_argument("--save-if-missing", action="store_true",
                        help="with no comparable baseline, save one and pass (default: fail)")
    parser.add_argument("--refresh", action="store_true", help="measure and replace the baseline in use")
    parser.add_argument("--add-session", action="store_true",
                        help="measure one more session of the unchanged tree into the baseline in use")
    parser.add_argument("--sessions", type=int, default=DEFAULT_SESSIONS,
                        help=f"sessions a saved or refreshed baseline measures (default {DEFAULT_SESSIONS})")
    parser.add_argument("--baselines", type=Path, default=ROOT / "results" / "baselines",
                        help="folder of per-machine baselines (default results/baselines)")
    parser.add_argument("--json", type=Path, default=ROOT / "results" / "bench" / "last.json",
                        help="where this run's pytest-benchmark JSON goes (default results/bench/last.json)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest after `--` (e.g. -k pool-map)")
    args = parser.parse_args(argv)
    if args.sessions < 1:
        parser.error(f"--sessions must be at least 1, not {args.sessions}")
    # pytest runs from the repository root: a relative --json must name the same file for it and for us.
    args.json, args.baselines = args.json.resolve(), args.baselines.resolve()
    if args.threshold is None:
        env = os.environ.get(THRESHOLD_ENV, "").strip()
        args.threshold = float(env) if env else float(DEFAULT_THRESHOLDS[args.metric])
    return args


@dataclass(frozen=True)
class MachineKind:
    """What the paired ratio depends on: a baseline from a machine of the same kind is comparable."""

    arch: str
    cpus: int
    python: str  # implementation and major.minor, e.g. "CPython 3.11"

    def __str__(self) -> str:
        return f"{self.arch}, {self.cpus} logical CPUs, {self.python}"


def this_kind() -> MachineKind:
    return MachineKind(platform.machine(), os.cpu_count() or 1,
                       f"{platform.python_implementation()} {sys.version_info.major}.{sys.version_info.minor}")


@dataclass(frozen=True)
class Baseline:
    path: Path
    machine_id: str
    kind: MachineKind
    cpu_model: str
    python_version: str
    # Every session of the baseline (its folder's numbered files), `path` the newest.
    sessions: tuple[Path, ...] = ()

    def all_sessions(self) -> tuple[Path, ...]:
        return self.sessions or (self.path,)

    def where(self) -> str:
        """Its folder and session count, or its one file."""
        count = len(self.all_sessions())
        return f"{rel(self.path.parent)} ({count} sessions)" if count > 1 else rel(self.path)


def read_baseline(path: Path) -> Baseline | None:
    """The machine a pytest-benchmark JSON file was measured on; None when it is not one."""
    try:
        info = json.loads(path.read_text())["machine_info"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    cpu = info.get("cpu") or {}
    version = str(info.get("python_version", ""))
    kind = MachineKind(str(info.get("machine", "")), int(cpu.get("count") or 0),
                       f"{info.get('python_implementation', '')} {'.'.join(version.split('.')[:2])}")
    return Baseline(path, str(info.get("parbench_machine_id", path.parent.parent.name)), kind,
                    str(cpu.get("brand_raw", "")), version)


def find_baseline(baselines: Path) -> Baseline | None:
    """The comparable baseline: same machine kind, this machine's own id first, with all its sessions."""
    found = (read_baseline(p) for p in sorted(baselines.glob(f"*/*/{BASELINE_GLOB}")))
    comparable = [b for b in found if b is not None and b.kind == this_kind()]
    if not comparable:
        return None
    best = max(comparable, key=lambda b: (b.machine_id == machine_id(), str(b.path.parent), b.path.name))
    return replace(best, sessions=tuple(b.path for b in comparable if b.path.parent == best.path.parent))


def differences(base: Baseline) -> list[str]:
    """How the baseline's machine differs from this one, in what does not decide comparability; with several
    sessions, in how many of them."""
    sessions = [b for p in base.all_sessions() if (b := read_baseline(p)) is not None] or [base]
    facts: list[tuple[str, str, list[str]]] = [
        ("machine id", machine_id(), [b.machine_id for b in sessions]),
        ("CPU model", repr(cpu_model()), [repr(b.cpu_model) for b in sessions]),
        ("Python", platform.python_version(), [b.python_version for b in sessions])]
    diffs = []
    for what, mine, theirs in facts:
        other = sorted({t for t in theirs if t != mine})
        if other:
            count = sum(t != mine for t in theirs)
            where = f" in {count} of {len(theirs)} sessions" if len(theirs) > 1 else ""
            diffs.append(f"{what} {', '.join(other)}{where} (this machine: {mine})")
    folder = base.path.parent.parent.name
    if folder != machine_id() and all(folder != b.machine_id for b in sessions):
        diffs.append(f"saved under machine id {folder} (this machine: {machine_id()})")
    return diffs


@dataclass(frozen=True)
class Figure:
    """The compared figure of one benchmark: its median and the samples behind it."""

    median: float
    samples: np.ndarray
    # The paired ratio's denominator: 'sequential', or 'sequential + 2 process starts (fork)' (bench/harness.py).
    reference: str = "sequential"
    # A baseline's figure: the medians of all its sessions (this one the slowest); empty for a run's own figure.
    sessions: tuple[float, ...] = ()


def figure_of(bench: Mapping[str, Any], metric: Metric) -> Figure | None:
    """None when the file predates the figure (a baseline saved before the paired ratio existed)."""
    if metric == "raw":
        stats = bench["stats"]
        return Figure(float(stats["median"]), np.array(stats.get("data") or [stats["median"]], dtype=float))
    paired = (bench.get("extra_info") or {}).get("paired_ratio")
    if not paired or not paired.get("ratios"):
        return None
    return Figure(float(paired["median"]), np.array(paired["ratios"], dtype=float),
                  str(paired.get("reference", "sequential")))


def figures(path: Path, metric: Metric) -> dict[str, Figure | None]:
    """fullname -> figure of every benchmark in a pytest-benchmark JSON file."""
    return {b["fullname"]: figure_of(b, metric) for b in json.loads(path.read_text())["benchmarks"]}


def baseline_figures(sessions: Sequence[Path], metric: Metric) -> dict[str, Figure | None]:
    """fullname -> the figure of its slowest session (largest median) among the sessions that have it, paired with
    the newest session's reference, carrying every such session's median; None when no session has it."""
    per_session = [figures(path, metric) for path in sessions]
    merged: dict[str, Figure | None] = {}
    for name in sorted(set().union(*per_session)):
        found = [f for session in per_session if (f := session.get(name)) is not None]
        same = [f for f in found if f.reference == found[-1].reference]
        slowest = max(same, key=lambda f: f.median) if same else None
        merged[name] = slowest and replace(slowest, sessions=tuple(sorted(f.median for f in same)))
    return merged


def wide_lines(base: Mapping[str, Figure | None], threshold: float, metric: Metric) -> list[str]:
    """Say which benchmarks moved more than the threshold between the baseline's sessions: each is gated against
    its slowest session, so a slowdown smaller than that move can pass unseen there."""
    wide = sorted(((f.sessions[-1] / f.sessions[0] - 1) * 100, name) for name, f in base.items()
                  if f is not None and len(f.sessions) > 1 and f.sessions[0] > 0
                  and f.sessions[-1] > f.sessions[0] * (1 + threshold / 100))
    if not wide:
        return []
    shown = ", ".join(f"{name.split('::')[-1]} +{move:.0f}%" for move, name in reversed(wide[-5:]))
    return [f"bench gate: {len(wide)} benchmark(s) moved more than +{threshold:g}% between the baseline's sessions "
            f"on an unchanged tree ({metric}; largest: {shown}); each is compared with its slowest session"]


@dataclass(frozen=True)
class Change:
    name: str
    before: Figure
    after: Figure
    growth: float  # percent
    p: float
    q: float = 1.0

    def regressed(self, threshold: float, alpha: float) -> bool:
        return self.growth > threshold and self.q < alpha

    def describe(self, metric: Metric) -> str:
        def shown(value: float) -> str:
            return f"{value:.3f}" if metric == "paired" else f"{value * 1e3:.2f} ms"

        test = (f"{len(self.before.samples)} vs {len(self.after.samples)} "
                f"{'pairs' if metric == 'paired' else 'rounds'}, Mann-Whitney U p={self.p:.2g}, BH q={self.q:.2g}")
        seen = self.before.sessions
        where = (f" (slowest of {len(seen)} baseline sessions, {shown(seen[0])} to {shown(seen[-1])})"
                 if len(seen) > 1 else "")
        what = "paired ratio to sequential" if metric == "paired" else "median"
        return (f"{what} {shown(self.before.median)}{where} -> {shown(self.after.median)} "
                f"({self.growth:+.0f}%; {test})")


def both(base: Mapping[str, Figure | None], now: Mapping[str, Figure | None]) -> list[tuple[str, Figure, Figure]]:
    """(name, base figure, figure now) of every benchmark with the figure on both sides."""
    return [(name, b, n) for name in sorted(now.keys() & base.keys())
            if (b := base[name]) is not None and (n := now[name]) is not None]


def changes(base: Mapping[str, Figure | None], now: Mapping[str, Figure | None]) -> list[Change]:
    """Every benchmark with the figure on both sides, against the same reference, with its BH-adjusted q over
    all of them."""
    pairs = [(name, b, n) for name, b, n in both(base, now) if b.reference == n.reference]
    raw = [Change(name, b, n, (n.median / b.median - 1) * 100 if b.median else float("inf"),
                  mann_whitney_p(b.samples, n.samples)) for name, b, n in pairs]
    return [replace(c, q=q) for c, q in zip(raw, adjusted([c.p for c in raw]), strict=True)]


def regressions(base: Mapping[str, Figure | None], json_path: Path, args: argparse.Namespace) -> list[Change]:
    now = figures(json_path, args.metric) if json_path.exists() else {}
    return [c for c in changes(base, now) if c.regressed(args.threshold, args.alpha)]


def report_ungated(base: Mapping[str, Figure | None], now: Mapping[str, Figure | None], source: str,
                   metric: Metric) -> None:
    """Name the benchmarks the baseline cannot gate: new since it was saved, or saved before the figure."""
    new = sorted(now.keys() - base.keys())
    if new:
        print(f"not gated yet ({len(new)} benchmark(s) absent from {source}; refresh with "
              f"`tox -e bench-baseline`): {', '.join(new)}")
    old = sorted(name for name in now.keys() & base.keys() if base[name] is None)
    if old:
        print(f"not gated on the normalised figure yet ({len(old)} benchmark(s): {source} predates the paired "
              f"ratio; refresh it with `tox -e bench-baseline`, or gate raw medians with --metric raw)")
    moved = [(name, b, n) for name, b, n in both(base, now) if b.reference != n.reference]
    if moved:
        name, before, after = moved[0]
        print(f"not gated on the normalised figure yet ({len(moved)} benchmark(s) paired with another reference "
              f"in {source}, e.g. {name}: {before.reference!r} there, {after.reference!r} now; refresh it with "
              "`tox -e bench-baseline`)")


def bench_env() -> dict[str, str]:
    """This environment without pytest-xdist's worker variables: a gate started from a test that runs on an xdist
    worker (tests/test_bench_gate.py under ./scripts/test) is still one plain pytest run, whose benchmarks
    pytest-benchmark would otherwise disable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}


def run_pytest(targets: Sequence[str], extra: Sequence[str], json_out: Path) -> int:
    """Run the benchmarks into `json_out`; a run that passed but wrote no JSON (benchmarks disabled by an
    argument) is a failure, said in one line."""
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", *targets, *PYTEST_BENCH_ARGS, f"--benchmark-json={json_out}", *extra]
    print("+", " ".join(cmd), flush=True)
    rc = subprocess.run(cmd, cwd=ROOT, check=False, env=bench_env()).returncode
    if rc == 0 and not json_out.exists():
        print(f"bench gate: pytest passed but wrote no benchmark results to {rel(json_out)} (benchmarks disabled, "
              "e.g. by --benchmark-disable?)", flush=True)
        return 1
    return rc


def session_path(target: Path, number: int) -> Path:
    return target / f"{number:04d}_baseline.json"


def measure_sessions(args: argparse.Namespace, count: int, tmp: Path) -> list[Path] | int:
    """Run the suite `count` times into `tmp`: the files, or pytest's exit code at the first failing run."""
    fresh = []
    for number in range(1, count + 1):
        print(f"bench gate: baseline session {number}/{count}", flush=True)
        fresh.append(session_path(tmp, number))
        rc = run_pytest([SUITE], args.pytest_args, fresh[-1])
        if rc != 0:
            print(f"bench gate: the benchmarks failed (pytest exit {rc}); baseline NOT saved", flush=True)
            return rc
    return fresh


def save_baseline(args: argparse.Namespace, target: Path, *, add: bool = False) -> int:
    """Measure `--sessions` sessions (one with `add`) into a temporary folder; only fully passing runs are saved,
    replacing the baseline's sessions (added after them with `add`)."""
    kept = sorted(target.glob(BASELINE_GLOB)) if add else []
    with tempfile.TemporaryDirectory(prefix="parbench-bench-") as tmp:
        fresh = measure_sessions(args, 1 if add else args.sessions, Path(tmp))
        if isinstance(fresh, int):
            return fresh
        target.mkdir(parents=True, exist_ok=True)
        if not add:
            for old in target.glob("*.json"):
                old.unlink()
        saved = [session_path(target, len(kept) + i) for i in range(1, len(fresh) + 1)]
        for source, copy in zip(fresh, saved, strict=True):
            shutil.copyfile(source, copy)
    count = len(figures(saved[-1], "raw"))
    print(f"bench gate: saved {len(saved)} baseline session(s) in {rel(target)} ({count} benchmarks; "
          f"{len(kept) + len(saved)} session(s) in all)", flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(saved[-1], args.json)
    return 0


def compare(args: argparse.Namespace, baseline: Baseline) -> int:
    """Gate the whole suite, then re-run only the regressed benchmarks, up to `--confirm` times: the gate fails
    on those still regressed in the last run, or when a benchmark fails (a wrong result)."""
    source = baseline.where()
    base = baseline_figures(baseline.all_sessions(), args.metric)
    for line in wide_lines(base, args.threshold, args.metric):
        print(line, flush=True)
    rc = run_pytest([SUITE], args.pytest_args, args.json)
    if args.json.exists():
        report_ungated(base, figures(args.json, args.metric), source, args.metric)
    regressed = regressions(base, args.json, args)
    for attempt in range(1, args.confirm + 1):
        if rc != 0 or not regressed:
            break
        print(f"bench gate: {len(regressed)} benchmark(s) regressed: re-running them to confirm "
              f"({attempt}/{args.confirm}); a burst of load slows a run now and then, a regression stays", flush=True)
        recheck = args.json.with_suffix(f".confirm{attempt}.json")
        rc = run_pytest([c.name for c in regressed], args.pytest_args, recheck)
        regressed = regressions(base, recheck, args)
    for change in regressed:
        print(f"REGRESSED {change.name}: {change.describe(args.metric)}")
    failed = rc != 0 or bool(regressed)
    why = f" (the benchmarks failed: pytest exit {rc})" if rc else ""
    print(f"bench gate: {'FAILED' if failed else 'PASSED'}{why} ({args.metric}: +{args.threshold:g}% and BH q < "
          f"{args.alpha:g}, baseline {source}, machine {machine_id()}, load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)", flush=True)
    return (rc or 1) if failed else 0


def pytest_benchmark_id() -> str:
    """pytest-benchmark's own folder name below a storage: OS, Python implementation, version, bits."""
    return str(_pytest_benchmark_id())  # type: ignore[no-untyped-call]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    found = find_baseline(args.baselines)
    if args.refresh or args.add_session:
        target = found.path.parent if found else args.baselines / machine_id() / pytest_benchmark_id()
        print(f"bench gate: {'adding a session to' if args.add_session else 'refreshing'} the baseline in "
              f"{rel(target)}", flush=True)
        return save_baseline(args, target, add=args.add_session)
    if found is None:
        where = f"in {rel(args.baselines)} for a machine like this one ({this_kind()}; id {machine_id()})"
        if not args.save_if_missing:
            print(f"bench gate: FAILED: no comparable baseline {where}; save one with --save-if-missing or "
                  "`tox -e bench-baseline`", flush=True)
            return NO_BASELINE_EXIT
        print(f"bench gate: no comparable baseline {where}: saving one (--save-if-missing)", flush=True)
        return save_baseline(args, args.baselines / machine_id() / pytest_benchmark_id())
    print(f"bench gate: comparing with {found.where()}, {found.kind}: "
          f"{'; '.join(differences(found)) or 'same machine id, CPU model and Python'}", flush=True)
    return compare(args, found)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
