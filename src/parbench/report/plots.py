"""The report's figures: matplotlib (Agg), one function per figure, each returning inline SVG text.

A figure has one panel per workload variant (array-sum with the python kernel, with the numpy kernel, ...)
and one line, bar or box per series (strategy, with its start method where several were measured). Every
series keeps its colour across all figures. Figures are built on `matplotlib.figure.Figure` (no pyplot
state) with text left as SVG text, which keeps them small and quick: a default-preset report renders in a
few seconds. The SVG is stripped of its XML prologue, metadata and namespace URIs so it can sit inline in
HTML (where the parser puts <svg> in the SVG namespace by itself) without a single URL in the file.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from parbench.analysis.scaling import SIZE, amdahl, at_top_workers, largest_point, ok_rows, size_text
from parbench.units import fmt_duration

matplotlib.use("Agg")  # importing matplotlib.figure chose no backend yet; never an interactive one here

PANEL_W, PANEL_H, LEGEND_W = 3.9, 3.0, 2.1  # inches
PALETTE = [matplotlib.colormaps["tab20"](i) for i in range(0, 20, 2)] + \
          [matplotlib.colormaps["tab20"](i) for i in range(1, 20, 2)]
MARKERS = "osD^v<>ph*"
PHASE_COLOURS = {"setup": "#9e9e9e", "spawn": "#e45756", "scatter": "#f58518", "compute": "#4c78a8",
                 "gather": "#72b7b2", "other": "#bab0ac", "teardown": "#5f5f5f"}
_STRIP = (re.compile(r"<\?xml[^>]*\?>\s*"), re.compile(r"<!DOCTYPE[^>]*>\s*"),
          re.compile(r"<metadata>.*?</metadata>\s*", re.S), re.compile(r'\s+xmlns(:\w+)?="[^"]*"'))

# axes.titley fixed: matplotlib otherwise measures every tick label to place each title (a third of the time).
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "parbench", "font.size": 8, "axes.titley": 1.02,
                            "axes.titlesize": 9, "axes.grid": True, "grid.alpha": 0.3, "legend.fontsize": 7,
                            "legend.frameon": False, "lines.markersize": 4, "lines.linewidth": 1.3})


@dataclass(frozen=True)
class Panel:
    """One variant's cells (rows of the annotated summary) and its title."""

    title: str
    rows: pd.DataFrame


@dataclass(frozen=True)
class Style:
    """Colour and marker of one series, the same in every figure."""

    colour: tuple[float, float, float, float]
    marker: str


def styles(labels: Iterable[str]) -> dict[str, Style]:
    """A style per series label, in the order given (sequential first reads best)."""
    return {label: Style(PALETTE[i % len(PALETTE)], MARKERS[(i // len(PALETTE)) % len(MARKERS)])
            for i, label in enumerate(dict.fromkeys(labels))}


def to_svg(fig: Figure) -> str:
    """The figure as inline-ready SVG text."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    for pattern in _STRIP:
        text = pattern.sub("", text)
    return text.replace("<svg ", '<svg role="img" ', 1)


def _figure(panels: int, rows: int = 1, height: float = PANEL_H, names: bool = False) -> tuple[Figure, np.ndarray]:
    """A row (or rows) of panels and room for the legend; `names`: bars named on the y axis need room."""
    label_w = 1.7 if names else 0.0
    width = (PANEL_W + label_w) * panels + LEGEND_W
    fig = Figure(figsize=(width, height * rows))
    axes = fig.subplots(rows, panels, squeeze=False)
    fig.subplots_adjust(left=(0.7 + label_w) / width, right=(width - LEGEND_W) / width,
                        bottom=0.55 / (height * rows), top=1 - 0.3 / (height * rows),
                        wspace=0.3 + 1.2 * label_w / PANEL_W, hspace=0.45)
    return fig, axes


def _bar_height(panels: Sequence[Panel]) -> float:
    """Tall enough for one readable bar per series."""
    bars = max((len(_at_top_workers(_largest(p.rows))) for p in panels), default=1)
    return max(PANEL_H, 1.0 + 0.22 * bars)


def _legend(fig: Figure, axes: Iterable[Axes]) -> None:
    """One legend for the figure, right of the panels, every label once."""
    seen: dict[str, Artist] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="upper left", bbox_to_anchor=(fig.subplotpars.right + 0.01,
                                                                                       fig.subplotpars.top))


def _plain_log(ax: Axes, x: bool = True, y: bool = True) -> None:
    """Log axes labelled in plain text (1e5, 0.5) without minor ticks: matplotlib's default 10^x labels go
    through mathtext layout and minor ticks are many artists, the slowest part of drawing a log axis."""
    for axis, on in ((ax.xaxis, x), (ax.yaxis, y)):
        if on:
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(_tick))
            axis.set_minor_locator(NullLocator())  # each minor tick is two artists to lay out and draw


def _tick(value: float, _position: object) -> str:
    return f"{value:.0e}".replace("e+0", "e") if value >= 10_000 else f"{value:g}"


def _empty(ax: Axes, why: str = "no OK cell") -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="#888")
    ax.set_xticks([])
    ax.set_yticks([])


def _at_top_workers(rows: pd.DataFrame) -> pd.DataFrame:
    """The OK cells of each series at the most workers measured in the panel, and sequential."""
    return at_top_workers(ok_rows(rows))


def _largest(rows: pd.DataFrame) -> pd.DataFrame:
    """The OK cells at the panel's largest size measured OK."""
    return largest_point(ok_rows(rows))


def _series(rows: pd.DataFrame) -> Iterable[tuple[str, pd.DataFrame]]:
    for label, group in rows.groupby("label", sort=False):
        yield str(label), group


def time_vs_size(panels: Sequence[Panel], style: Mapping[str, Style]) -> str:
    """Median time against size (log-log) at the most workers, one line per series, its 95% CI as a band."""
    fig, axes = _figure(len(panels))
    for ax, panel in zip(axes[0], panels, strict=True):
        rows = _at_top_workers(panel.rows)
        if rows.empty or SIZE not in rows or rows[SIZE].isna().all():  # a function workload has no size
            _empty(ax)
            continue
        for label, group in _series(rows.sort_values(SIZE)):
            s, x = style[label], group[SIZE].astype(float)
            ax.plot(x, group["median_ns"] / 1e6, marker=s.marker, color=s.colour, label=label)
            ax.fill_between(x, group["ci_low_ns"] / 1e6, group["ci_high_ns"] / 1e6, color=s.colour, alpha=0.15,
                            linewidth=0)
        ax.set(xscale="log", yscale="log", xlabel=SIZE, ylabel="median time (ms)",
               title=f"{panel.title} (x{int(rows['workers'].max())})")
        _plain_log(ax)
    _legend(fig, axes.flat)
    return to_svg(fig)


def _scaling_panel(ax: Axes, rows: pd.DataFrame, column: str, fits: pd.DataFrame, style: Mapping[str, Style]) -> None:
    """One panel of speedup (or self-speedup) against workers: the ideal, one line per series, and the Amdahl
    fit of the best series at the most workers (dashed, its serial fraction printed)."""
    if rows.empty:
        _empty(ax)
        return
    top = int(rows["workers"].max())
    ax.plot([1, top], [1, top], color="black", linewidth=0.8, linestyle=":", label="ideal (S = p)")
    for label, group in _series(rows.sort_values("workers")):
        s = style[label]
        ax.plot(group["workers"], group[column], marker=s.marker, color=s.colour, label=label)
    best = rows[rows["workers"] == top].nlargest(1, column)
    if not best.empty:
        _fit(ax, fits, best.iloc[0], "amdahl_f" if column == "speedup" else "amdahl_f_self", style)
    ax.set_xticks(sorted(rows["workers"].unique()))


def _fit(ax: Axes, fits: pd.DataFrame, row: pd.Series, column: str, style: Mapping[str, Style]) -> None:
    """The Amdahl curve of one series over 1..p, dashed in its colour, with its serial fraction printed."""
    fit = fits[(fits["point"] == row["point"]) & (fits["series"] == row["series"])]
    if fit.empty or not pd.notna(fit[column].iloc[0]):
        return
    f = float(fit[column].iloc[0])
    p = np.linspace(1, float(row["workers"]), 30)
    ax.plot(p, amdahl(p, f), linestyle="--", linewidth=1, color=style[str(row["label"])].colour,
            label="Amdahl fit of the best")
    ax.text(0.03, 0.97, f"best: {row['label']}\nAmdahl f = {f:.3f}", transform=ax.transAxes, va="top", fontsize=7,
            bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0})


def speedup_vs_workers(panels: Sequence[Panel], fits: pd.DataFrame, style: Mapping[str, Style]) -> str:
    """At each panel's largest size: speedup vs sequential (top) and vs the same strategy at one worker
    (bottom) against workers, with the ideal line and each series' Amdahl fit (dashed)."""
    fig, axes = _figure(len(panels), rows=2)
    for column, (row_axes, what) in enumerate(zip(axes, ("speedup", "self_speedup"), strict=True)):
        for ax, panel in zip(row_axes, panels, strict=True):
            rows = _largest(panel.rows)
            _scaling_panel(ax, rows[rows[what].notna()], what, fits, style)
            ax.set(xlabel="workers", ylabel="speedup vs sequential" if column == 0 else "speedup vs itself at p = 1",
                   title=_size_title(panel, rows))
    _legend(fig, axes.flat)
    return to_svg(fig)


def _size_title(panel: Panel, rows: pd.DataFrame) -> str:
    if rows.empty or SIZE not in rows or rows[SIZE].isna().all():
        return panel.title
    return f"{panel.title}, size {size_text(rows[SIZE].max())}"


def efficiency_vs_workers(panels: Sequence[Panel], style: Mapping[str, Style]) -> str:
    """Efficiency S / p against workers at each panel's largest size: 100% is perfect scaling."""
    fig, axes = _figure(len(panels))
    for ax, panel in zip(axes[0], panels, strict=True):
        rows = _largest(panel.rows)
        rows = rows[rows["efficiency"].notna()]
        if rows.empty:
            _empty(ax)
            continue
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle=":", label="ideal (E = 1)")
        for label, group in _series(rows.sort_values("workers")):
            s = style[label]
            ax.plot(group["workers"], group["efficiency"], marker=s.marker, color=s.colour, label=label)
        ax.set_xticks(sorted(rows["workers"].unique()))
        ax.set(xlabel="workers", ylabel="efficiency (speedup / workers)", title=_size_title(panel, rows))
    _legend(fig, axes.flat)
    return to_svg(fig)


def phase_breakdown(panels: Sequence[Panel], phases: pd.DataFrame) -> str:
    """Where one call's time goes (setup, spawn, scatter, compute, gather, other, teardown), as shares of
    its total, at each panel's largest size and most workers; the total is printed at the bar's end."""
    fig, axes = _figure(len(panels), height=_bar_height(panels), names=True)
    for ax, panel in zip(axes[0], panels, strict=True):
        rows = _at_top_workers(_largest(panel.rows))
        rows = rows[rows["key"].isin(phases.index)]
        if rows.empty:
            _empty(ax)
            continue
        _phase_bars(ax, rows, phases)
        ax.set(xlabel="share of one call from cold", title=_size_title(panel, rows))
    _legend(fig, axes[0][:1])
    return to_svg(fig)


def _phase_bars(ax: Axes, rows: pd.DataFrame, phases: pd.DataFrame) -> None:
    """Stacked shares per cell, the fastest call from cold on top."""
    rows = rows.assign(_total=phases.loc[rows["key"], "total"].to_numpy()).sort_values("_total")
    table = phases.loc[rows["key"]]
    names = [f"{label} x{int(p)}" for label, p in zip(rows["label"], rows["workers"], strict=True)]
    left = np.zeros(len(rows))
    totals = table["total"].to_numpy(dtype=float)
    for phase in (c for c in table.columns if c != "total"):
        share = table[phase].to_numpy(dtype=float) / np.where(totals > 0, totals, 1)
        ax.barh(names, share, left=left, color=PHASE_COLOURS.get(phase, "#d62728"),
                label=phase, height=0.7)
        left += share
    for y, total in enumerate(totals):
        ax.text(1.01, y, fmt_duration(total), va="center", fontsize=6.5)
    ax.set_xlim(0, 1.22)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0", "25%", "50%", "75%", "100%"])
    ax.invert_yaxis()
    ax.grid(False)


def utilisation(panels: Sequence[Panel], style: Mapping[str, Style]) -> str:
    """CPU utilisation cpu / (wall x workers) per series at the largest size and most workers, against 1/p:
    a GIL-bound strategy sits on that line (one core busy), a parallel one near 100%."""
    fig, axes = _figure(len(panels), height=_bar_height(panels), names=True)
    for ax, panel in zip(axes[0], panels, strict=True):
        rows = _at_top_workers(_largest(panel.rows))
        rows = rows[rows["strategy"] != "sequential"]
        rows = rows.iloc[np.argsort([list(style).index(label) for label in rows["label"]], kind="stable")]
        if rows.empty:
            _empty(ax, "no parallel OK cell")
            continue
        p = int(rows["workers"].max())
        ax.barh(list(rows["label"]), rows["utilisation"], color=[style[label].colour for label in rows["label"]],
                height=0.7)
        ax.axvline(1.0, color="black", linewidth=0.8, linestyle=":")
        ax.axvline(1 / p, color="#d62728", linewidth=1, linestyle="--", label=f"1/p: one core's worth of {p}")
        ax.set(xlabel="CPU utilisation", xlim=(0, max(1.1, float(rows["utilisation"].max()) * 1.1)),
               title=_size_title(panel, rows) + f", x{p}")
        ax.invert_yaxis()
    _legend(fig, axes.flat)
    return to_svg(fig)


def throughput(panels: Sequence[Panel], bytes_touched: Mapping[str, int], bandwidth: float | None,
               style: Mapping[str, Style]) -> str:
    """GB/s (bytes the workload touches / median time) against size at the most workers, under the roofline
    of the memory bandwidth calibrated on this machine (one core, numpy)."""
    fig, axes = _figure(len(panels))
    for ax, panel in zip(axes[0], panels, strict=True):
        rows = _at_top_workers(panel.rows)
        rows = rows[rows["point"].isin(bytes_touched)]
        if rows.empty or SIZE not in rows or rows[SIZE].isna().all():
            _empty(ax, "no byte count for this workload")
            continue
        for label, group in _series(rows.sort_values(SIZE)):
            s = style[label]
            rate = group["point"].map(bytes_touched) / group["median_ns"]  # bytes per ns = GB/s
            ax.plot(group[SIZE].astype(float), rate, marker=s.marker, color=s.colour, label=label)
        if bandwidth:
            ax.axhline(bandwidth / 1e9, color="black", linewidth=1.2, label="memory bandwidth (calibrated)")
        ax.set(xscale="log", yscale="log", xlabel=SIZE, ylabel="GB/s", title=panel.title)
        _plain_log(ax)
    _legend(fig, axes.flat)
    return to_svg(fig)
