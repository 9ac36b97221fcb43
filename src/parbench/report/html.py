"""The HTML report: one self-contained file (inline CSS and SVG, no script, no URL), from a jinja2 template
with autoescaping on. This module turns the report model into plain strings and tables; the template lays
them out; figures come from parbench.report.plots.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from parbench.analysis.compare import CellChange, Comparison
from parbench.analysis.scaling import SIZE, best_map, family_rank, largest_point, ok_rows, size_text
from parbench.report import plots
from parbench.report.model import Report, Variant, Workload
from parbench.results.meta import RunMeta
from parbench.results.schema import FAILED, SLOW_MACHINE
from parbench.units import fmt_bytes, fmt_duration
from parbench.version import __version__

TEMPLATES = Path(__file__).parent / "templates"
QUALITY = ("slow machine", "noisy", "sub-ms")  # measured, but read with care; the rest are failures or gaps
ATTENTION = (*FAILED, "missing")


@dataclass(frozen=True)
class Table:
    """A table as text: a header row, body rows, and a CSS class per body cell where one applies."""

    header: list[str]
    rows: list[list[str]]
    classes: list[list[str]] | None = None


@dataclass(frozen=True)
class FigureView:
    title: str
    caption: str
    svg: Markup


def speedup_text(value: Any) -> str:
    return f"{value:.2f}x" if pd.notna(value) else "-"


def percent(value: Any) -> str:
    return f"{value:.0%}" if pd.notna(value) else "-"


def duration(value: Any) -> str:
    return fmt_duration(float(value)) if pd.notna(value) else "-"


def speed_class(value: Any) -> str:
    """good from 1.1x, bad under 0.9x: the colour of a speedup."""
    if not pd.notna(value):
        return ""
    return "good" if value >= 1.1 else "bad" if value < 0.9 else "even"


def strategy_styles(summary: pd.DataFrame) -> dict[str, plots.Style]:
    order = summary.assign(_f=family_rank(summary["family"]))
    return plots.styles(order.sort_values(["_f", "strategy", "label"])["label"])


_LARGEST = "at each panel's largest size"
CAPTIONS = {
    "time": ("Time vs size", "Median wall time (log-log) at the most workers measured, sequential as the reference; "
             "the band is the bootstrap 95% CI of the median."),
    "speedup": ("Speedup vs workers", f"Top: speedup against sequential; bottom: against the same strategy at one "
                f"worker ({_LARGEST}). Dotted: ideal S = p; dashed: each strategy's Amdahl fit, the best one's serial "
                "fraction printed."),
    "efficiency": ("Efficiency vs workers", f"Speedup / workers {_LARGEST}: 100% is perfect scaling, 1/p no gain."),
    "phases": ("Where the time goes", f"Phases of one call from cold (setup + one run + teardown) {_LARGEST} and "
               "most workers, as shares of its total (printed at the end of each bar)."),
    "utilisation": ("CPU utilisation", "CPU time of the whole process tree / (wall x workers). Dashed: 1/p, one core "
                    "busy: where threads running Python sit, because of the GIL."),
    "throughput": ("Throughput vs memory bandwidth", "Bytes the workload reads / median time, at the most workers; "
                   "the line is the memory bandwidth calibrated on this machine (numpy, one core): the roofline of a "
                   "memory-bound kernel."),
}


def figures(workload: Workload, report: Report, style: Mapping[str, plots.Style]) -> list[FigureView]:
    """The workload's figures, one panel per variant; throughput only where the workload counts its bytes."""
    panels = [plots.Panel(v.title, v.rows) for v in workload.variants]
    svgs = {"time": plots.time_vs_size(panels, style),
            "speedup": plots.speedup_vs_workers(panels, report.fits, style),
            "efficiency": plots.efficiency_vs_workers(panels, style),
            "phases": plots.phase_breakdown(panels, report.phases),
            "utilisation": plots.utilisation(panels, style)}
    if any(point in report.bytes_touched for v in workload.variants for point in v.rows["point"]):
        bandwidth = report.calibration.get("memory_bandwidth_bytes_per_s")
        svgs["throughput"] = plots.throughput(panels, report.bytes_touched, bandwidth, style)
    return [FigureView(*CAPTIONS[name], Markup(svg)) for name, svg in svgs.items()]


def best_table(variant: Variant) -> Table:
    """Size x workers: the fastest strategy and its speedup (the "best strategy" map)."""
    best = best_map(variant.rows)
    sizes = sorted(best[SIZE].unique()) if not best.empty else []
    workers = sorted(best["workers"].unique()) if not best.empty else []
    rows, classes = [], []
    for p in workers:
        row, cls = [f"x{p}"], [""]
        for size in sizes:
            hit = best[(best[SIZE] == size) & (best["workers"] == p)]
            if hit.empty:
                row.append("-")
                cls.append("")
                continue
            cell = hit.iloc[0]
            row.append(f"{cell['label']} {speedup_text(cell['speedup'])}")
            cls.append(speed_class(cell["speedup"]))
        rows.append(row)
        classes.append(cls)
    return Table(["workers \\ size", *(size_text(s) for s in sizes)], rows, classes)


def crossover_table(variant: Variant, report: Report) -> Table:
    found = report.crossovers[report.crossovers["variant"] == variant.key].sort_values("label")
    rows = [[str(r["label"]), "never" if pd.isna(r["crossover"]) else size_text(r["crossover"]),
             ", ".join(f"{size_text(s)}: {speedup_text(v)}" for s, v in sorted(r["sizes"].items()))]
            for _, r in found.iterrows()]
    return Table(["strategy", "beats sequential from size", "best speedup per size"], rows)


def karp_flatt_table(variant: Variant, report: Report) -> Table:
    """At the largest size: speedup, efficiency and Karp-Flatt e per worker count, and the Amdahl fits."""
    rows = largest_point(ok_rows(variant.rows[variant.rows["strategy"] != "sequential"]))
    counts = sorted(int(p) for p in rows["workers"].unique())
    body = []
    for label, group in rows.groupby("label", sort=True):
        by_p = {int(r["workers"]): r for _, r in group.iterrows()}
        cells = [_kf_cell(by_p.get(p)) for p in counts]
        fit = report.fits[(report.fits["point"] == group["point"].iloc[0])
                          & (report.fits["series"] == group["series"].iloc[0])]
        f = fit["amdahl_f"].iloc[0] if not fit.empty else float("nan")
        f_self = fit["amdahl_f_self"].iloc[0] if not fit.empty else float("nan")
        body.append([str(label), *cells, _fraction(f), _fraction(f_self)])
    return Table(["strategy", *(f"p = {p}: S, E, e" for p in counts), "Amdahl f", "Amdahl f (self)"], body)


def _kf_cell(row: pd.Series | None) -> str:
    if row is None:
        return "-"
    e = f", e = {row['karp_flatt']:.3f}" if pd.notna(row["karp_flatt"]) else ""
    return f"{speedup_text(row['speedup'])}, {percent(row['efficiency'])}{e}"


def _fraction(value: Any) -> str:
    return f"{value:.3f}" if pd.notna(value) else "-"


def point_text(key: str) -> str:
    cell = json.loads(key)
    return str(cell["workload"]) + " " + " ".join(f"{k}={size_text(v) if k == SIZE else v}"
                                             for k, v in sorted(cell["params"].items()))


def _flags(row: pd.Series) -> str:
    flags = []
    if row.get("noisy") is True:
        flags.append("noisy")
    if row.get("timer_dominated") is True:
        flags.append("sub-ms")
    if pd.notna(row.get("outliers")) and row["outliers"]:
        flags.append(f"{int(row['outliers'])} outlier(s)")
    if pd.notna(row.get("slow_visits_dropped")) and row["slow_visits_dropped"]:
        flags.append(f"{int(row['slow_visits_dropped'])} slow-machine visit(s) left out")
    if pd.notna(row.get("slowdown")) and row["slowdown"] > SLOW_MACHINE:
        flags.append(f"machine {row['slowdown']:.2f}x slow")
    return ", ".join(flags)


def cells_table(summary: pd.DataFrame) -> Table:
    """Every cell's statistics, by workload point, then family, strategy and workers."""
    order = summary.assign(_p=summary["key"].map(point_text), _f=family_rank(summary["family"]))
    order = order.sort_values(["_p", "_f", "label", "workers"])
    rows, classes = [], []
    for _, r in order.iterrows():
        ci = f"{duration(r['ci_low_ns'])} - {duration(r['ci_high_ns'])}" if pd.notna(r["ci_low_ns"]) else "-"
        rows.append([r["_p"], str(r["label"]), str(int(r["workers"])), str(r["status"]),
                     str(int(r["n"])) if pd.notna(r["n"]) else "0", duration(r["median_ns"]), ci,
                     duration(r["iqr_ns"]), percent(r["cv"]), duration(r["min_ns"]), percent(r["utilisation"]),
                     speedup_text(r["speedup"]), speedup_text(r["self_speedup"]), percent(r["efficiency"]),
                     duration(r["e2e_ns"]), duration(r["setup_ns"]), duration(r["teardown_ns"]),
                     fmt_bytes(float(r["peak_rss"])) if pd.notna(r["peak_rss"]) else "-", _flags(r)])
        classes.append(["", "", "", "" if r["status"] == "OK" else "bad", *([""] * 7), speed_class(r["speedup"]),
                        *([""] * 7)])
    header = ["point", "strategy", "p", "status", "n", "median", "95% CI", "IQR", "CV", "min", "CPU util",
              "speedup", "self", "efficiency", "end to end", "setup", "teardown", "peak RSS", "flags"]
    return Table(header, rows, classes)


def comparison_table(comparison: Comparison, changes: list[CellChange]) -> Table:
    rows = [[c.label, c.verdict, c.ratio_text(), f"{c.relative:.3f}" if pd.notna(c.relative) else "-",
             duration(c.base_median_ns), duration(c.new_median_ns),
             f"{c.p_value:.2g} ({c.q_value:.2g})" if pd.notna(c.p_value) else "-", c.reason] for c in changes]
    classes = [["", "bad" if c.verdict == "regressed" else "good" if c.verdict == "improved" else "", *([""] * 6)]
               for c in changes]
    return Table(["cell", "verdict", f"ratio new/{comparison.base} (95% CI)", f"vs drift x{comparison.drift:.3f}",
                  "base median", "new median", "p (q, adjusted)", "note"], rows, classes)


def environment(report: Report) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """The environment block: groups of (name, value) from meta.json."""
    meta = report.run.meta
    env: Mapping[str, Any] = meta.environment
    cpu, memory, python = env.get("cpu") or {}, env.get("memory") or {}, env.get("python") or {}
    shm = memory.get("shm") or {}
    yield "Machine", [("host", str(env.get("hostname", "-"))), ("CPU", str(cpu.get("model", "-"))),
                      ("cores", f"{cpu.get('logical', '-')} logical, {cpu.get('physical', '-')} physical"),
                      ("usable CPUs", str(cpu.get("affinity", "-"))), ("governor", str(cpu.get("governor") or "-")),
                      ("memory", fmt_bytes(memory["total"]) if memory.get("total") else "-"),
                      ("/dev/shm", fmt_bytes(shm["total"]) if shm.get("total") else "-"),
                      ("load average", str(env.get("load_average", "-"))), ("OS", str(env.get("os", "-")))]
    gil = "enabled" if python.get("gil_enabled", True) else "disabled"
    yield "Python", [("version", f"{python.get('implementation', '')} {python.get('version', '-')}"),
                     ("build", " ".join(map(str, python.get("build") or []))), ("GIL", gil),
                     ("free-threading build", str(python.get("free_threading_build", "-")))]
    yield "Software", [(k, str(v or "not installed")) for k, v in (env.get("packages") or {}).items()]
    yield "Run", list(_run_facts(meta))
    yield "Calibration", list(calibration_facts(report.calibration))


def _run_facts(meta: RunMeta) -> Iterator[tuple[str, str]]:
    git = meta.environment.get("git") or {}
    commit = git.get("commit") or "-"
    yield "commit", f"{commit}{' (uncommitted changes)' if git.get('dirty') else ''}"
    yield "created", meta.created or "-"
    yield "finished", meta.finished or "not finished"
    if meta.total_elapsed_s is not None:
        yield "elapsed", f"{meta.total_elapsed_s:.1f} s"
    spec = meta.spec
    yield "spec", ", ".join(f"{k} {spec[k]}" for k in ("repeat", "warmup", "isolation", "seed", "timeout") if k in spec)
    yield "command", " ".join(meta.command)


def calibration_facts(calibration: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The calibrated primitives, in words and units."""
    bandwidth = calibration.get("memory_bandwidth_bytes_per_s")
    if bandwidth:
        yield "memory bandwidth (numpy sum, one core)", f"{bandwidth / 1e9:.2f} GB/s"
    if calibration.get("python_loop_ns_per_item"):
        yield "python loop", f"{calibration['python_loop_ns_per_item']:.3g} ns per element"
    for method, ns in (calibration.get("process_start_ns") or {}).items():
        yield f"process start + join ({method})", fmt_duration(ns)
    if calibration.get("pipe_round_trip_ns"):
        yield "Pipe round trip (8 bytes)", fmt_duration(calibration["pipe_round_trip_ns"])
    if calibration.get("pipe_bytes_per_s"):
        yield "Pipe throughput (1 MiB messages)", f"{calibration['pipe_bytes_per_s'] / 1e9:.2f} GB/s"
    if calibration.get("sleep_overshoot_ns") is not None:
        yield "sleep(1 ms) overshoot", fmt_duration(calibration["sleep_overshoot_ns"])


def context(report: Report) -> dict[str, Any]:
    """Everything the template shows, as strings, tables and SVG markup."""
    style = strategy_styles(report.summary)
    workloads = [{"name": w.name, "figures": figures(w, report, style),
                  "variants": [{"title": v.title, "verdict": v.verdict, "best": best_table(v),
                                "crossover": crossover_table(v, report), "karp_flatt": karp_flatt_table(v, report)}
                               for v in w.variants]} for w in report.workloads]
    comparison = report.comparison
    return {"run_id": report.run.run_id, "version": __version__, "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
            "counts": report.status_counts(), "cell_count": len(report.summary), "workloads": workloads,
            "notices": report.notices, "environment": list(environment(report)), "failed_kinds": ATTENTION,
            "failures": [n for n in report.notices if n.kind not in QUALITY],
            "quality": [n for n in report.notices if n.kind in QUALITY],
            "cells_table": cells_table(report.summary), "comparison": comparison,
            "comparison_table": comparison_table(comparison, comparison.shown()) if comparison else None,
            "machine": report.machine_line(), "trust": report.trust}


def render(report: Report) -> str:
    """The whole HTML document."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return env.get_template("report.html.j2").render(**context(report))

