"""Measure the bench gate's noise: run the suite N times and report how far an unchanged tree moves.

    python bench/noise.py [--runs 5] [--hog RUN] [--hog-cpu CPU] [--baseline FILE] [--threshold PCT]
                          [--write NOISE.md] [--out results/bench/noise] [--reuse] [-- PYTEST_ARGS]

For each benchmark and each figure (the paired ratio to sequential the gate compares; the raw median, for
comparison), spread = (largest - smallest of its N values) / smallest: what an unchanged tree can show
against its own baseline. `--hog RUN` runs a CPU-bound process pinned to one CPU during that run (started
and stopped by its PID), as another job on a shared runner does. Each run is also judged by the gate's rule
against the baseline (the gate's own comparable one unless `--baseline`), at the default threshold, without
re-runs; and the smallest slowdown the gate catches in every run is found by scaling each benchmark's per-pair
ratios in turn by 1.05, 1.10, ... (the other benchmarks unchanged, for the Benjamini-Hochberg adjustment).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

import gate
from machine import machine_id
from parbench.analysis.compare import mann_whitney_p
from parbench.analysis.stats import adjusted

ROOT = Path(__file__).resolve().parent.parent
FACTORS = tuple(round(1 + 0.05 * i, 2) for i in range(1, 11))  # 1.05 .. 1.50


@dataclass(frozen=True)
class Run:
    """One run of the suite: per benchmark, its group, paired-ratio figure and raw median."""

    paired: dict[str, gate.Figure | None]
    raw: dict[str, float]
    groups: dict[str, str]
    hog: bool
    load: float


@contextmanager
def cpu_hog(cpu: int | None) -> Iterator[int | None]:
    """A busy loop pinned to `cpu` for the duration (None: nothing); stopped by its PID, waited for."""
    if cpu is None:
        yield None
        return
    code = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True:\n    pass\n"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        yield proc.pid
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def run_suite(out: Path, extra: list[str], hog_cpu: int | None) -> Run:
    # The gate's own options, so the noise measured is the noise the gate sees.
    cmd = [sys.executable, "-m", "pytest", gate.SUITE, *gate.PYTEST_BENCH_ARGS, "-q", f"--benchmark-json={out}",
           *extra]
    with cpu_hog(hog_cpu) as pid:
        if pid is not None:
            print(f"noise: CPU hog pid {pid} pinned to CPU {hog_cpu}", flush=True)
            time.sleep(1)  # let it settle on its CPU
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, env=gate.bench_env())
        load = os.getloadavg()[0]
    out.with_suffix(".meta.json").write_text(json.dumps({"hog": pid is not None, "load": load}))
    return load_run(out)


def load_run(out: Path) -> Run:
    """A run saved by run_suite (what `--reuse` re-analyses)."""
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    data = json.loads(out.read_text())["benchmarks"]
    return Run(gate.figures(out, "paired"), {b["fullname"]: b["stats"]["median"] for b in data},
               {b["fullname"]: b["group"] for b in data}, meta["hog"], meta["load"])


def spread(values: list[float]) -> float:
    return (max(values) / min(values) - 1) * 100


def summarise(values: list[float]) -> str:
    p95 = float(np.percentile(values, 95))
    return f"{statistics.median(values):.1f} % / {p95:.1f} % / {max(values):.1f} %"


def spreads(runs: list[Run]) -> tuple[dict[str, float], dict[str, float]]:
    """Per benchmark present in every run: the paired ratio's spread and the raw median's."""
    names = sorted(set.intersection(*(set(r.raw) for r in runs)))
    names = [n for n in names if all(r.paired.get(n) is not None for r in runs)]
    paired = {n: spread([r.paired[n].median for r in runs]) for n in names}  # type: ignore[union-attr]
    raw = {n: spread([r.raw[n] for r in runs]) for n in names}
    return paired, raw


def spread_table(runs: list[Run]) -> list[str]:
    paired, raw = spreads(runs)
    lines = ["| group | benchmarks | paired ratio spread: median / p95 / max | raw median spread: median / p95 / max |",
             "|---|---|---|---|"]
    groups = sorted({runs[0].groups[n] for n in paired})
    for group in [*groups, "all"]:
        names = [n for n in paired if group in ("all", runs[0].groups[n])]
        lines.append(f"| {group} | {len(names)} | {summarise([paired[n] for n in names])} | "
                     f"{summarise([raw[n] for n in names])} |")
    return lines


def verdict_lines(runs: list[Run], base: dict[str, gate.Figure | None], threshold: float) -> list[str]:
    lines = ["| run | CPU hog | load avg | compared | largest growth | largest significant growth | regressed |",
             "|---|---|---|---|---|---|---|"]
    for i, run in enumerate(runs, 1):
        result = gate.changes(base, run.paired)
        if not result:
            lines.append(f"| {i} | {'yes' if run.hog else 'no'} | {run.load:.2f} | 0 | - | - | - |")
            continue
        largest = max(result, key=lambda c: c.growth)
        significant = [c.growth for c in result if c.q < gate.DEFAULT_ALPHA]
        regressed = [c.name.split("::")[-1] for c in result if c.regressed(threshold, gate.DEFAULT_ALPHA)]
        lines.append(f"| {i} | {'yes' if run.hog else 'no'} | {run.load:.2f} | {len(result)} | "
                     f"{largest.growth:+.1f} % ({largest.name.split('::')[-1]}) | "
                     f"{f'{max(significant):+.1f} %' if significant else 'none'} | {', '.join(regressed) or 'none'} |")
    return lines


def caught_at(base: dict[str, gate.Figure | None], run: Run, threshold: float) -> dict[str, float]:
    """Per benchmark, the smallest factor of FACTORS its per-pair ratios can be scaled by and be flagged in this
    run (inf: none), the other benchmarks left as measured."""
    unchanged = gate.changes(base, run.paired)
    p_values = [c.p for c in unchanged]
    smallest: dict[str, float] = {}
    for i, change in enumerate(unchanged):
        smallest[change.name] = float("inf")
        for factor in FACTORS:
            after = gate.Figure(change.after.median * factor, change.after.samples * factor)
            p = mann_whitney_p(change.before.samples, after.samples)
            q = adjusted([*p_values[:i], p, *p_values[i + 1:]])[i]
            scaled = replace(change, after=after, growth=(after.median / change.before.median - 1) * 100, p=p, q=q)
            if scaled.regressed(threshold, gate.DEFAULT_ALPHA):
                smallest[change.name] = factor
                break
    return smallest


def catch_factors(runs: list[Run], base: dict[str, gate.Figure | None], threshold: float) -> dict[str, float]:
    """Per benchmark, the smallest slowdown of FACTORS the gate flags in every run (inf: none of them)."""
    per_run = [caught_at(base, run, threshold) for run in runs]
    names = sorted(set.intersection(*(set(r) for r in per_run)))
    return {n: max(r[n] for r in per_run) for n in names}


def detection_lines(every: dict[str, float], runs: int) -> list[str]:
    if not every:
        return []
    by_factor = {f: sum(v <= f for v in every.values()) for f in FACTORS}
    return [f"Smallest slowdown caught in {runs} of {runs} runs (each benchmark's per-pair ratios scaled in turn, "
            f"the others as measured): median over benchmarks {statistics.median(every.values()):.2f}x; "
            "benchmarks caught in every run at each slowdown: "
            + ", ".join(f"{f:.2f}x: {n}/{len(every)}" for f, n in by_factor.items()) + "."]


def table_lines(runs: list[Run], every: dict[str, float]) -> list[str]:
    paired, raw = spreads(runs)
    lines = ["| benchmark | " + " | ".join(f"run {i + 1} ratio" for i in range(len(runs)))
             + " | ratio spread | raw spread | caught in every run from |",
             "|---|" + "---|" * len(runs) + "---|---|---|"]
    for name in sorted(paired, key=lambda n: -paired[n]):
        cells = " | ".join(f"{r.paired[name].median:.3f}" for r in runs)  # type: ignore[union-attr]
        caught = every.get(name)
        shown = "-" if caught is None else ("not at 1.50x" if caught == float("inf") else f"{caught:.2f}x")
        lines.append(f"| {name.split('::')[-1]} | {cells} | {paired[name]:.1f} % | {raw[name]:.1f} % | {shown} |")
    return lines


def baseline_sessions(given: Path | None) -> list[Path]:
    """The sessions the runs are judged against: a given file, a given folder's sessions, or the gate's own."""
    if given is not None:
        return sorted(given.glob(gate.BASELINE_GLOB)) if given.is_dir() else [given]
    found = gate.find_baseline(ROOT / "results" / "baselines")
    return list(found.all_sessions()) if found else []


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--hog", type=int, default=0, help="run number (1-based) with a CPU hog; 0: none")
    parser.add_argument("--hog-cpu", type=int, default=0, help="the CPU the hog is pinned to (default 0)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="baseline JSON, or a folder of baseline sessions, the runs are judged against")
    parser.add_argument("--threshold", type=float, default=float(gate.DEFAULT_THRESHOLDS["paired"]))
    parser.add_argument("--reuse", action="store_true", help="re-analyse the runs saved in --out, run nothing")
    parser.add_argument("--only", type=int, nargs="+", help="with --reuse: analyse these runs only")
    parser.add_argument("--write", type=Path, default=None, help="also write the tables to this Markdown file")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "bench" / "noise")
    parser.add_argument("pytest_args", nargs="*")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    sessions = baseline_sessions(args.baseline)
    started = time.monotonic()
    numbers = args.only or list(range(1, args.runs + 1))
    runs = [load_run(args.out / f"run{i}.json") if args.reuse else
            run_suite(args.out / f"run{i}.json", args.pytest_args, args.hog_cpu if i == args.hog else None)
            for i in numbers]
    hogged = ", ".join(str(n) for n, run in zip(numbers, runs, strict=True) if run.hog) or "none"
    how = ("re-analysed from " + gate.rel(args.out) if args.reuse else
           f"in {time.monotonic() - started:.0f} s; pytest arguments: {' '.join(args.pytest_args) or '(none)'}")
    lines = [f"Machine {machine_id()}; runs {', '.join(map(str, numbers))} {how}; CPU hog in run {hogged}.", "",
             *spread_table(runs), ""]
    every: dict[str, float] = {}
    if sessions:
        base = gate.baseline_figures(sessions, "paired")
        every = catch_factors(runs, base, args.threshold)
        against = (f"{gate.rel(sessions[0].parent)} ({len(sessions)} sessions; each benchmark against its slowest)"
                   if len(sessions) > 1 else gate.rel(sessions[0]))
        lines += [f"Gate verdicts against {against} at +{args.threshold:g} % and BH q < "
                  f"{gate.DEFAULT_ALPHA} (first pass, no re-run):", "", *verdict_lines(runs, base, args.threshold), "",
                  *detection_lines(every, len(runs)), ""]
    lines += table_lines(runs, every)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
