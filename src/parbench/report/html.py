"""The HTML report: one self-contained file (inline CSS and SVG, no script, no URL), from a jinja2 template
with autoescaping on. This module turns the report model into plain strings and tables; the template lays
them out; figures come from parbench.report.plots, colours and order from parbench.report.style.

A workload's section is a list of blocks (BLOCKS): each a collapsible part with its own template in
templates/blocks/ and a function giving what it shows (None: the block is left out). A new analysis of a
workload adds one entry there and one template, nothing else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from parbench.analysis.compare import CellChange, Comparison
from parbench.analysis.physics import SUSPECT
from parbench.analysis.scaling import MIN_FIT_COUNTS, SIZE, largest_point, leader, ok_rows, size_text
from parbench.report import plots
from parbench.report.model import FlaggedCell, Headline, Report, Variant, Workload
from parbench.report.style import Style, ordered, series_styles, strategy_style
from parbench.results.schema import FAILED, Cell
from parbench.units import fmt_bytes, fmt_duration
from parbench.version import __version__

TEMPLATES = Path(__file__).parent / "templates"
QUALITY = ("slow machine", "noisy", "sub-ms")  # measured, but read with care; the rest are failures or gaps
ATTENTION = (*FAILED, SUSPECT, "missing")


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


_LARGEST = "at each panel's largest size"
CAPTIONS = {
    "time": ("Time vs size", "Median wall time (log-log) at the most workers measured, sequential as the reference; "
             "the band is the bootstrap 95% CI of the median."),
    "speedup": ("Speedup vs workers", f"Left: speedup against sequential; right: against the same strategy at one "
                f"worker ({_LARGEST}). Dotted: ideal S = p."),
    "efficiency": ("Efficiency vs workers", f"Speedup / workers {_LARGEST}: 100% is perfect scaling, 1/p no gain."),
    "phases": ("Where the time goes", f"Phases of one call from cold (setup + one run + teardown) {_LARGEST} and "
               "most workers, as shares of its total (printed at the end of each bar)."),
    "utilisation": ("CPU utilisation", "CPU time of the whole process tree / (wall x workers). Dashed: 1/p, one core "
                    "busy: where threads running Python sit, because of the GIL."),
    "throughput": ("Throughput vs memory bandwidth", "Bytes the workload reads / median time, at the most workers; "
                   "the line is the memory bandwidth calibrated on this machine (numpy, one core): the roofline of a "
                   "memory-bound kernel."),
}


def _fit_note(report: Report, workload: Workload) -> str:
    """What the speedup caption says of Amdahl fits: drawn, or why not."""
    fits = report.fits[report.fits["variant"].isin([v.key for v in workload.variants])]
    if not fits.empty and fits["meaningful"].any():
        return " Dashed: the best strategy's Amdahl fit, its serial fraction printed."
    counts = sorted(int(p) for p in workload.variants[0].rows["workers"].unique())
    return (f" No Amdahl fit: {len(counts)} worker count(s) measured ({', '.join(map(str, counts))}); through "
            f"fewer than {MIN_FIT_COUNTS} any curve fits, so its serial fraction would mean nothing.")


def _one_worker_note(workload: Workload) -> str:
    """Efficiency above 100% at one worker is not a gain: say where it comes from."""
    found = []
    for variant in workload.variants:
        at = ok_rows(largest_point(variant.rows))
        over = at[(at["workers"] == 1) & (at["strategy"] != "sequential") & (at["efficiency"] > 1)]
        found += [f"{r['label']} {r['efficiency']:.0%} (95% CI {r['speedup_low']:.2f}-{r['speedup_high']:.2f}x)"
                  for _, r in ordered(over).iterrows()]
    if not found:
        return ""
    return (" Above 100% at one worker: " + ", ".join(found) + ". One worker is sequential's work plus overhead: "
            "these are within their 95% CI of sequential, i.e. noise (a cell beyond it is SUSPECT, left out and "
            "listed in the warnings).")


def _faded_note(panels: list[plots.Panel]) -> str:
    if all(len(set(p.rows["label"])) <= plots.MAX_LINES for p in panels):
        return ""
    return (f" Faded: the strategies outside the {plots.BRIGHT} fastest at the largest size (in their own colours; "
            "the tables list them all).")


def figures(workload: Workload, report: Report, style: Mapping[str, Style]) -> list[FigureView]:
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
    faded = _faded_note(panels)
    notes = {"time": faded, "speedup": _fit_note(report, workload) + faded,
             "efficiency": _one_worker_note(workload) + faded, "throughput": faded}
    return [FigureView(CAPTIONS[name][0], CAPTIONS[name][1] + notes.get(name, ""), Markup(svg))
            for name, svg in svgs.items()]


def legend(workload: Workload, style: Mapping[str, Style]) -> Markup:
    """The one legend of a workload section's figures."""
    labels = {str(label) for v in workload.variants for label in ok_rows(v.rows)["label"]}
    return Markup(plots.legend(style, labels, [("ideal", ":")]))


def winners_table(variant: Variant) -> Table:
    """The winner at each size of a variant, by the rule of the terminal's best-strategy table and of the
    headline cards (parbench.analysis.scaling.leader): clear, sequential or "none clearly"."""
    rows, classes = [], []
    for _, at in variant.rows.groupby("point", sort=False):
        found = leader(at)
        shown = found.shown()
        size = size_text(at[SIZE].iloc[0]) if SIZE in at and pd.notna(at[SIZE].iloc[0]) else "-"
        figures_ = ([_ci_text(shown), duration(shown["median_ns"]), duration(shown["baseline_ns"])]
                    if shown is not None else ["-", "-", "-"])
        rows.append((float(at[SIZE].iloc[0]) if size != "-" else 0.0, [size, found.text(), *figures_]))
        classes.append(["", "good" if found.clear and not found.sequential else "", "", "", ""])
    order = sorted(range(len(rows)), key=lambda i: rows[i][0])
    return Table(["size", "winner", "speedup (95% CI)", "median", "sequential"], [rows[i][1] for i in order],
                 [classes[i] for i in order])


def _ci_text(row: pd.Series) -> str:
    if not pd.notna(row["speedup"]):
        return "-"
    unpaired = "" if row.get("paired") or row["strategy"] == "sequential" else " unpaired"
    return f"{row['speedup']:.2f}x ({row['speedup_low']:.2f}-{row['speedup_high']:.2f}){unpaired}"


def crossover_table(variant: Variant, report: Report) -> Table:
    found = report.crossovers[report.crossovers["variant"] == variant.key]
    order = list(series_styles(variant.rows))
    found = found.iloc[sorted(range(len(found)), key=lambda i: order.index(found["label"].iloc[i]))]
    rows = [[str(r["label"]), "never" if pd.isna(r["crossover"]) else size_text(r["crossover"]),
             ", ".join(f"{size_text(s)}: {speedup_text(v)}" for s, v in sorted(r["sizes"].items()))]
            for _, r in found.iterrows()]
    return Table(["strategy", "beats sequential from size", "best speedup per size"], rows)


def karp_flatt_table(variant: Variant, report: Report) -> Table:
    """At the largest size: speedup, efficiency and Karp-Flatt e per worker count, and the Amdahl fits where
    there are enough worker counts for one (parbench.analysis.scaling.MIN_FIT_COUNTS)."""
    rows = largest_point(ok_rows(variant.rows[variant.rows["strategy"] != "sequential"]))
    counts = sorted(int(p) for p in rows["workers"].unique())
    fitted = len(counts) >= MIN_FIT_COUNTS
    body = []
    for label, group in ordered(rows, "workers").groupby("label", sort=False):
        by_p = {int(r["workers"]): r for _, r in group.iterrows()}
        cells = [_kf_cell(by_p.get(p)) for p in counts]
        fit = report.fits[(report.fits["point"] == group["point"].iloc[0])
                          & (report.fits["series"] == group["series"].iloc[0])]
        f = fit["amdahl_f"].iloc[0] if not fit.empty and fit["meaningful"].iloc[0] else float("nan")
        f_self = fit["amdahl_f_self"].iloc[0] if not fit.empty and fit["meaningful"].iloc[0] else float("nan")
        body.append([str(label), *cells, *([_fraction(f), _fraction(f_self)] if fitted else [])])
    fit_columns = ["Amdahl f", "Amdahl f (self)"] if fitted else []
    return Table(["strategy", *(f"p = {p}: S, E, e" for p in counts), *fit_columns], body)


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


def _notes(row: pd.Series) -> str:
    """What the every-cell table adds beyond the warnings: outliers kept, slow-machine visits left out."""
    notes = []
    if pd.notna(row.get("outliers")) and row["outliers"]:
        notes.append(f"{int(row['outliers'])} outlier(s)")
    if pd.notna(row.get("slow_visits_dropped")) and row["slow_visits_dropped"]:
        notes.append(f"{int(row['slow_visits_dropped'])} slow-machine visit(s) left out")
    return ", ".join(notes)


def _cell_label(key: str) -> str:
    return Cell.from_dict(json.loads(key)).label()


def cells_table(summary: pd.DataFrame, flagged: tuple[FlaggedCell, ...]) -> Table:
    """Every cell's statistics, by workload point, then the report's strategy order and workers; its warnings
    column is the warnings section's, cell for cell."""
    warnings = {f.subject: ", ".join(f.kinds) for f in flagged}
    order = ordered(summary.assign(_p=summary["key"].map(point_text)), "_p", "label", "workers")
    order = order.sort_values("_p", kind="stable")
    rows, classes = [], []
    for _, r in order.iterrows():
        ci = f"{duration(r['ci_low_ns'])} - {duration(r['ci_high_ns'])}" if pd.notna(r["ci_low_ns"]) else "-"
        warned = warnings.get(_cell_label(r["key"]), "")
        rows.append([r["_p"], str(r["label"]), str(int(r["workers"])), str(r["status"]), warned,
                     str(int(r["n"])) if pd.notna(r["n"]) else "0", duration(r["median_ns"]), ci,
                     duration(r["iqr_ns"]), percent(r["cv"]), duration(r["min_ns"]), percent(r["utilisation"]),
                     speedup_text(r["speedup"]), speedup_text(r["self_speedup"]), percent(r["efficiency"]),
                     duration(r["e2e_ns"]), duration(r["setup_ns"]), duration(r["teardown_ns"]),
                     fmt_bytes(float(r["peak_rss"])) if pd.notna(r["peak_rss"]) else "-", _notes(r)])
        classes.append(["", "", "", "" if r["status"] == "OK" else "bad", "even" if warned else "", *([""] * 7),
                        speed_class(r["speedup"]), *([""] * 7)])
    header = ["point", "strategy", "p", "status", "warnings", "n", "median", "95% CI", "IQR", "CV", "min",
              "CPU util", "speedup", "self", "efficiency", "end to end", "setup", "teardown", "peak RSS", "notes"]
    return Table(header, rows, classes)


def comparison_table(comparison: Comparison, changes: list[CellChange]) -> Table:
    rows = [[c.label, c.verdict_text(), c.ratio_text(), f"{c.relative:.3f}" if pd.notna(c.relative) else "-",
             duration(c.base_median_ns), duration(c.new_median_ns),
             f"{c.p_value:.2g} ({c.q_value:.2g})" if pd.notna(c.p_value) else "-", c.reason] for c in changes]
    classes = [["", "bad" if c.verdict == "regressed" else "good" if c.verdict == "improved" else "", *([""] * 6)]
               for c in changes]
    return Table(["cell", "verdict", f"ratio new/{comparison.base} (95% CI)", f"vs drift x{comparison.drift:.3f}",
                  "base median", "new median", "p (q, adjusted)", "note"], rows, classes)


def card(variant: Variant, anchor: str) -> dict[str, Any]:
    """A headline card: the winner (its colour), its paired speedup and CI, where, and one line why."""
    h: Headline = variant.headline
    shown, rival = h.shown, h.rival
    where = f"size {h.size}" if h.size else ""
    figures_, swatch = "", None
    if shown is not None and pd.notna(shown.get("speedup")) and shown["strategy"] != "sequential":
        how = "paired" if shown.get("paired") else "unpaired"
        figures_ = (f"{shown['speedup']:.2f}x (95% CI {shown['speedup_low']:.2f}-{shown['speedup_high']:.2f}, "
                    f"{how})")
        if h.kind in ("parallel", "tie"):  # where the winner (or the tie) is; sequential's rival says its own
            workers = f"{int(shown['workers'])} worker{'s' if int(shown['workers']) > 1 else ''}"
            where = ", ".join(x for x in (where, workers) if x)
    if h.kind == "parallel" and shown is not None:
        swatch = strategy_style(str(shown["strategy"]), str(shown["family"])).colour
    elif h.kind == "sequential":
        swatch = strategy_style("sequential").colour
    detail = {"parallel": f"{figures_} vs sequential",
              "sequential": (f"nothing parallel clearly beats it; closest: {shown['label']} x{int(shown['workers'])} "
                             f"{figures_}") if shown is not None and figures_ else "nothing parallel to compare",
              "tie": (f"{shown['label']} x{int(shown['workers'])} {figures_} and {rival['label']} "
                      f"x{int(rival['workers'])} {rival['speedup']:.2f}x are within the noise")
              if shown is not None and rival is not None else "",
              "none": "no trusted cell: see the warnings"}[h.kind]
    return {"title": variant.title, "anchor": anchor, "kind": h.kind, "winner": h.winner, "swatch": swatch,
            "detail": detail, "where": where, "why": h.why}


@dataclass(frozen=True)
class Block:
    """One collapsible part of a workload section: `data` is what templates/blocks/<id>.html.j2 shows."""

    id: str
    title: str
    data: Any
    open: bool = True


@dataclass(frozen=True)
class BlockSpec:
    """How a block is made: `make` returns its data, or None when the workload has nothing to show there."""

    id: str
    title: str
    make: Callable[[Workload, Report, Mapping[str, Style]], Any]
    open: bool = True


def _verdicts(workload: Workload, report: Report, style: Mapping[str, Style]) -> Any:
    return [{"title": v.title, "winner": v.verdict.winner, "lines": v.verdict.lines} for v in workload.variants]


def _figures(workload: Workload, report: Report, style: Mapping[str, Style]) -> Any:
    return {"legend": legend(workload, style), "figures": figures(workload, report, style)}


def _tables(workload: Workload, report: Report, style: Mapping[str, Style]) -> Any:
    return [{"title": v.title, "winners": winners_table(v), "crossover": crossover_table(v, report),
             "karp_flatt": karp_flatt_table(v, report)} for v in workload.variants]


BLOCKS: tuple[BlockSpec, ...] = (
    BlockSpec("verdicts", "Verdicts", _verdicts),
    BlockSpec("figures", "Figures", _figures),
    BlockSpec("tables", "Winner at each size, crossovers, serial fractions", _tables, open=False),
)


def workload_view(workload: Workload, report: Report, style: Mapping[str, Style]) -> dict[str, Any]:
    blocks = [Block(spec.id, spec.title, data, spec.open) for spec in BLOCKS
              if (data := spec.make(workload, report, style)) is not None]
    return {"name": workload.name, "anchor": f"w-{workload.name}", "blocks": blocks}


def context(report: Report) -> dict[str, Any]:
    """Everything the template shows, as strings, tables and SVG markup."""
    style = series_styles(report.summary)
    workloads = [workload_view(w, report, style) for w in report.workloads]
    cards = [card(v, f"w-{w.name}") for w in report.workloads for v in w.variants]
    flagged = report.flagged_cells()
    comparison = report.comparison
    return {"run_id": report.run.run_id, "version": __version__, "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
            "counts": report.status_counts(), "cell_count": len(report.summary), "workloads": workloads,
            "cards": cards, "flagged": flagged, "environment": report.environment(),
            "failed_kinds": ATTENTION, "run_notices": report.run_notices(),
            "failures": [f for f in flagged if set(f.kinds) & set(ATTENTION)],
            "quality": [f for f in flagged if not set(f.kinds) & set(ATTENTION)],
            "cells_table": cells_table(report.summary, flagged), "comparison": comparison,
            "comparison_table": comparison_table(comparison, comparison.shown()) if comparison else None,
            "machine": report.machine_line(), "trust": report.trust, "gil_story": report.gil_story}


def render(report: Report) -> str:
    """The whole HTML document."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    return env.get_template("report.html.j2").render(**context(report))
