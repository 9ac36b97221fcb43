"""Terminal tables of a summarized run (parbench.analysis.stats.summarize): what the sweep prints at its end.

First the trust line (parbench.analysis.trust), then two tables: speedup against sequential (and CPU
utilisation) of every strategy at the largest worker count, one column per workload point; and the leader
at each point (parbench.analysis.scaling.leader: clear, or "none clearly"). Noisy cells (CV > 10%) are
marked with `~`, failed ones show their status, SUSPECT ones (physically impossible) say so and why below.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import pandas as pd
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from parbench.analysis.physics import SUSPECT
from parbench.analysis.scaling import at_top_workers, leader, point_of
from parbench.analysis.trust import Trust
from parbench.report.style import ordered
from parbench.results.schema import Cell
from parbench.units import fmt_count, fmt_duration


def _points(summary: pd.DataFrame) -> dict[str, str]:
    """Point id -> a short column label: the workload and the parameters that vary across the run."""
    parsed = {k: json.loads(k) for k in summary["key"]}
    points = {point_of(k): (c["workload"], c["params"], c.get("python"), c.get("gil")) for k, c in parsed.items()}
    labels = {}
    for pid, (workload, params, python, gil) in points.items():
        same = [p for w, p, *_ in points.values() if w == workload]
        varying = [k for k in params if len({json.dumps(p.get(k)) for p in same}) > 1]
        shown = varying or [k for k in params if k == "size"] or list(params)
        where = (f" py{python}" if python else "") + (f" gil={gil}" if gil else "")  # the interpreter axis
        labels[pid] = workload + "\n" + " ".join(_value(params[k]) for k in shown) + where
    return dict(sorted(labels.items(), key=lambda item: _order(item[0])))


def _order(pid: str) -> tuple[Any, ...]:
    """Points sorted by workload, then by parameter values (numbers as numbers: 8 before 32)."""
    workload, params, *where = json.loads(pid)
    values = [(0, v, "") if isinstance(v, int | float) else (1, 0, str(v)) for v in params.values()]
    return workload, values, json.dumps(where, sort_keys=True)


def _value(value: Any) -> str:
    return fmt_count(value) if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _entry(row: pd.Series) -> str:
    if row["status"] == SUSPECT:
        return "[yellow]SUSPECT[/]"
    if row["status"] != "OK":
        return f"[red]{row['status']}[/]" if row["status"] != "UNAVAILABLE" else "[yellow]n/a[/]"
    speedup, util = row["speedup"], row.get("utilisation")
    colour = "green" if speedup >= 1.1 else "red" if speedup < 0.9 else "white"
    noisy = "~" if row.get("noisy") else ""
    util_text = f" [dim]{util:.0%}[/]" if pd.notna(util) else ""
    return f"[{colour}]{_speedup(speedup)}{noisy}[/]{util_text}"


def _speedup(value: float) -> str:
    """'-' where there is no speedup: the point has no OK sequential baseline."""
    return f"{value:.2f}x" if pd.notna(value) else "-"


def _row_label(strategy: str, method: Any, methods: int) -> str:
    return f"{strategy} ({method})" if methods > 1 and isinstance(method, str) else strategy


def speedup_table(summary: pd.DataFrame) -> Table:
    """Strategies x points at the most workers measured: speedup vs sequential, CPU utilisation dimmed."""
    top = int(summary["workers"].max())
    at_top = at_top_workers(summary)
    labels = _points(summary)
    methods = summary["start_method"].dropna().nunique()
    table = Table(title=f"Speedup vs sequential at {top} worker(s) (CPU utilisation dimmed; ~ noisy: CV > 10%)",
                  title_justify="left")
    table.add_column("strategy")
    for label in labels.values():
        table.add_column(label, justify="right")
    order = ordered(at_top, "start_method")  # the report's order: its tables and legends read the same
    for (strategy, method), group in order.groupby(["strategy", "start_method"], sort=False, dropna=False):
        by_point = {point_of(r["key"]): _entry(r) for _, r in group.iterrows()}
        table.add_row(_row_label(str(strategy), method, methods), *(by_point.get(p, "") for p in labels))
    return table


def best_table(summary: pd.DataFrame) -> Table:
    """For each point: the leader by paired speedup with its 95% CI, or "none clearly" with the two closest."""
    table = Table(title="Best strategy per workload point (paired speedup; a winner's 95% CI is above every other "
                        "strategy's, its lead 10% or more at the low end of the lead's CI)", title_justify="left")
    for column in ("workload point", "best", "speedup (95% CI)", "median", "sequential"):
        table.add_column(column, justify="left" if column in ("workload point", "best") else "right")
    points = summary["key"].map(point_of)
    for pid, label in _points(summary).items():
        found = leader(summary[points == pid])
        name, shown = label.replace("\n", " "), found.shown()
        who = found.text()
        if shown is None:
            table.add_row(name, who if found.sequential else f"[red]{who}[/]", "", "", "")
            continue
        table.add_row(name, escape(who), _ci(shown), fmt_duration(shown["median_ns"]),
                      fmt_duration(shown["baseline_ns"]))
    return table


def _ci(row: pd.Series) -> str:
    if not pd.notna(row["speedup"]):
        return "-"
    unpaired = "" if row.get("paired") or row["strategy"] == "sequential" else " unpaired"
    return f"{row['speedup']:.2f}x ({row['speedup_low']:.2f}-{row['speedup_high']:.2f}){unpaired}"


def suspect_cells(summary: pd.DataFrame) -> list[str]:
    """One line per SUSPECT cell: its label and the rules it broke."""
    rows = summary[summary["status"] == SUSPECT]
    return [f"{Cell.from_dict(json.loads(r['key'])).label()}: {r['suspect']}" for _, r in rows.iterrows()]


def noisy_cells(summary: pd.DataFrame) -> Iterable[str]:
    noisy = summary[summary["noisy"].fillna(False).astype(bool)] if "noisy" in summary else summary.iloc[0:0]
    for _, row in noisy.sort_values("cv", ascending=False).iterrows():
        yield f"{Cell.from_dict(json.loads(row['key'])).label()}: CV {row['cv']:.0%}"


def render(console: Console, summary: pd.DataFrame, trust: Trust | None = None) -> None:
    """The closing summary of a sweep: the trust line (and advice when most verdicts are doubtful) first."""
    if summary.empty or "median_ns" not in summary:
        console.print("[red]no cell produced a measurement[/]")
        return
    if trust is not None:
        console.print(("[bold yellow]" if trust.doubtful else "[bold]") + escape(trust.line()) + "[/]",
                      highlight=False)
        if trust.advice():
            console.print(f"[yellow]{escape(str(trust.advice()))}[/]", highlight=False)
    console.print(speedup_table(summary))
    console.print(best_table(summary))
    for line in suspect_cells(summary):
        console.print(f"[yellow]SUSPECT[/] {escape(line)}", highlight=False, soft_wrap=True)
    noisy = list(noisy_cells(summary))
    if noisy:
        console.print(f"[yellow]{len(noisy)} of {len(summary)} cells are noisy (CV > 10%)[/]: "
                      + escape("; ".join(noisy[:5])) + (" ..." if len(noisy) > 5 else ""), highlight=False)
