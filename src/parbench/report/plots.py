"""The report's figures: matplotlib (Agg), one function per figure, each returning inline SVG text.

A figure has one panel per workload variant (array-sum with the python kernel, with the numpy kernel, ...)
and one line, bar or box per series (strategy, with its start method where several were measured). Every
series keeps its colour and marker (parbench.report.style) across all figures; a workload section carries one
legend for all its figures (`legend`). Figures are built on `matplotlib.figure.Figure` (no pyplot state) with
text left as SVG text, which keeps them small and quick.

Projected, a figure is as wide as the page's content column (the SVG keeps its viewBox, not its size), so
every figure is drawn FIG_W wide, whatever its panels: text of a given size then reads the same in every
figure (10 pt in FIG_W = 720 pt shown about 1100 px wide is 15 px). A panel with more than MAX_LINES series
draws the BRIGHT fastest in full and the rest faded, in their own colours: identity kept, clutter gone.

The SVG is stripped of its XML prologue, metadata, fixed size and namespace URIs so it can sit inline in HTML
(where the parser puts <svg> in the SVG namespace by itself) without a single URL in the file. Each series'
artists carry an id "<figure><panel>:<label>" (spaces as _): what a reader (or a test) finds a series by.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from parbench.analysis.scaling import SIZE, amdahl, at_top_workers, largest_point, ok_rows, size_text
from parbench.report.style import Dash, Style
from parbench.units import fmt_duration

matplotlib.use("Agg")  # importing matplotlib.figure chose no backend yet; never an interactive one here

FIG_W, PANEL_H = 10.0, 3.1  # inches: every figure is FIG_W wide (see above); a row of panels PANEL_H high
MAX_COLUMNS = 2  # panels side by side; more variants wrap onto more rows
MAX_LINES, BRIGHT = 8, 5  # more series than MAX_LINES in a panel: the BRIGHT fastest drawn in full
FADED_ALPHA = 0.22
ENDS = 1.55  # inches right of a line panel for the names at its lines' ends (process-pool-executor x2 fits)
PHASE_COLOURS = {"setup": "#BBBBBB", "spawn": "#EE6677", "scatter": "#CCBB44", "compute": "#4477AA",
                 "gather": "#66CCEE", "other": "#DDDDDD", "teardown": "#555555"}  # Tol's bright scheme
_STRIP = (re.compile(r"<\?xml[^>]*\?>\s*"), re.compile(r"<!DOCTYPE[^>]*>\s*"),
          re.compile(r"<metadata>.*?</metadata>\s*", re.S), re.compile(r'\s+xmlns(:\w+)?="[^"]*"'))
_SIZE = re.compile(r'\s(?:width|height)="[^"]*"')

# axes.titley fixed: matplotlib otherwise measures every tick label to place each title (a third of the time).
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "parbench", "font.size": 10,
                            "axes.titley": 1.02, "axes.titlesize": 11, "axes.labelsize": 10,
                            "xtick.labelsize": 10, "ytick.labelsize": 10, "axes.grid": True, "grid.alpha": 0.35,
                            "legend.fontsize": 10, "legend.frameon": False, "lines.markersize": 6,
                            "lines.linewidth": 2.2, "axes.spines.top": False, "axes.spines.right": False})


@dataclass(frozen=True)
class Panel:
    """One variant's cells (rows of the annotated summary) and its title."""

    title: str
    rows: pd.DataFrame

    def bright(self) -> set[str]:
        """The series drawn in full in every figure of this panel: all of them when there are few, else
        sequential and the BRIGHT fastest at the largest size and most workers."""
        labels = set(self.rows["label"])
        if len(labels) <= MAX_LINES:
            return labels
        at = _at_top_workers(_largest(self.rows))
        parallel = at[at["strategy"] != "sequential"].sort_values("speedup", ascending=False)
        return set(at.loc[at["strategy"] == "sequential", "label"]) | set(parallel["label"].head(BRIGHT))


def to_svg(fig: Figure) -> str:
    """The figure as inline-ready SVG text: no fixed size (it scales with the page through its viewBox)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    for pattern in _STRIP:
        text = pattern.sub("", text)
    start, rest = text.split(">", 1)  # the <svg ...> start tag: its viewBox stays, its fixed size goes
    return _SIZE.sub("", start).replace("<svg", '<svg role="img"', 1) + ">" + rest


def series_id(figure: str, panel: int, label: str) -> str:
    return f"{figure}{panel}:{label.replace(' ', '_')}"


def _figure(panels: int, height: float = PANEL_H, names: float = 0.0, columns: int | None = None,
            top: float = 0.35, ends: float = 0.0) -> tuple[Figure, list[Axes]]:
    """Panels in rows of at most MAX_COLUMNS (or `columns`), FIG_W wide; `names`: inches on the left of each
    panel for bar names on its y axis; `top`: inches above the panels (titles, a legend); `ends`: inches on
    the right of each panel for the names written at the ends of its lines."""
    cols = columns or max(1, min(panels, MAX_COLUMNS))
    rows = -(-panels // cols)
    total = height * rows + top
    fig = Figure(figsize=(FIG_W, total))
    axes = fig.subplots(rows, cols, squeeze=False)
    left, right = 0.75 + names, 0.25 + ends
    panel_w = (FIG_W - left - right - (cols - 1) * (0.6 + names + ends)) / cols
    fig.subplots_adjust(left=left / FIG_W, right=1 - right / FIG_W, bottom=0.6 / total, top=1 - top / total,
                        wspace=(0.6 + names + ends) / panel_w, hspace=0.8 / (height - 0.8))
    flat = list(axes.flat)
    for spare in flat[panels:]:
        spare.set_visible(False)
    return fig, flat[:panels]


def _bar_height(panels: Sequence[Panel]) -> float:
    """Tall enough for one readable bar per series."""
    bars = max((len(_at_top_workers(_largest(p.rows))) for p in panels), default=1)
    return max(PANEL_H, 1.1 + 0.24 * bars)


def legend(style: Mapping[str, Style], labels: Iterable[str], extra: Sequence[tuple[str, Dash]] = ()) -> str:
    """One legend for a workload section's figures: every series drawn there, in the report's order, and the
    reference lines (`extra`: (label, matplotlib line style)) in black."""
    shown = [label for label in style if label in set(labels)]
    handles = [Line2D([], [], color=style[label].colour, marker=style[label].marker, linestyle=style[label].dash,
                      label=label) for label in shown]
    handles += [Line2D([], [], color="black", linestyle=dash, linewidth=1.5, label=label) for label, dash in extra]
    columns = 4
    fig = Figure(figsize=(FIG_W, 0.3 + 0.3 * -(-len(handles) // columns)))
    found = fig.legend(handles=handles, loc="center", ncol=columns, mode="expand", borderaxespad=0.2,
                       handlelength=2.6, bbox_to_anchor=(0, 0, 1, 1))
    for handle, label in zip(found.legend_handles, [str(h.get_label()) for h in handles], strict=True):
        if handle is not None and label in style:
            handle.set_gid(series_id("legend", 0, label))
    return to_svg(fig)


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


def _series(rows: pd.DataFrame, style: Mapping[str, Style]) -> Iterable[tuple[str, pd.DataFrame]]:
    """Each series' rows, in the report's order (the legend's)."""
    groups = {str(label): group for label, group in rows.groupby("label", sort=False)}
    for label in style:
        if label in groups:
            yield label, groups[label]


def _lines(ax: Axes, rows: pd.DataFrame, x: str, y: pd.Series | str, style: Mapping[str, Style],
           where: tuple[str, int], bright: set[str]) -> list[tuple[float, float, str]]:
    """One line per series of `rows` (y: a column, or values aligned with rows); faded unless in `bright`.
    Returns the last point of each bright line, for `_name_ends` once the axes' limits are set."""
    values = rows[y] if isinstance(y, str) else y
    ends = []
    for label, group in _series(rows.sort_values(x), style):
        s, full = style[label], label in bright
        xs, ys = group[x].astype(float), values.loc[group.index].astype(float)
        ax.plot(xs, ys, marker=s.marker, color=s.colour, linestyle=s.dash, alpha=1.0 if full else FADED_ALPHA,
                linewidth=None if full else 1.4, zorder=3 if full else 2, gid=series_id(*where, label))
        finite = np.isfinite(ys.to_numpy()) & (ys.to_numpy() > 0)
        if full and finite.any():
            ends.append((float(xs[finite].iloc[-1]), float(ys[finite].iloc[-1]), label))
    return ends


def spread(targets: Sequence[float], gap: float) -> list[float]:
    """Positions as close to `targets` (sorted ascending) as they can be while `gap` apart: overlapping labels
    gather in clusters, each centred on the mean of its members' targets, merged until none overlap."""
    clusters: list[list[float]] = []  # [start, count, sum of targets]
    for target in targets:
        clusters.append([target, 1, target])
        while len(clusters) > 1 and clusters[-2][0] + clusters[-2][1] * gap > clusters[-1][0]:
            last = clusters.pop()
            merged = clusters[-1]
            merged[1] += last[1]
            merged[2] += last[2]
            merged[0] = merged[2] / merged[1] - (merged[1] - 1) * gap / 2
    return [start + i * gap for start, count, _ in clusters for i in range(int(count))]


def _name_ends(ax: Axes, ends: list[tuple[float, float, str]], style: Mapping[str, Style]) -> None:
    """Each bright line's name at its end (the lines reaching the panel's right end), in its colour, spread so
    none overlaps: read from the back of a room without going back and forth to the legend."""
    last = max((x for x, _, _ in ends), default=None)
    ends = [end for end in ends if end[0] == last]  # sequential's one point at p = 1 has no end to name
    if not ends:
        return
    ax.get_xlim(), ax.get_ylim()  # settle autoscaled limits before mapping data to the page
    gap = float(matplotlib.rcParams["font.size"]) * 1.2 * ax.figure.dpi / 72
    spots = sorted(((*ax.transData.transform((x, y)), label) for x, y, label in ends), key=lambda spot: spot[1])
    right = max(x for x, _, _ in spots) + 8
    to_axes = ax.transAxes.inverted()
    for (_x, _y, label), y in zip(spots, spread([y for _, y, _ in spots], gap), strict=True):
        xa, ya = to_axes.transform((right, y))
        ax.text(xa, ya, label, transform=ax.transAxes, color=style[label].colour, va="center", clip_on=False)


def _size_axis(ax: Axes, sizes: Iterable[float]) -> None:
    """A log size axis ticked at the sizes measured, written as sizes are (4, 8, 1e5), when they are few."""
    found = sorted({float(s) for s in sizes})
    ax.set_xscale("log")
    if len(found) <= 8:
        ax.set_xticks(found, [size_text(s) for s in found])
        ax.xaxis.set_minor_locator(NullLocator())
        if len(found) > 1:
            ax.set_xlim(found[0] / 1.25, found[-1] * 1.25)
    else:
        _plain_log(ax, y=False)


def time_vs_size(panels: Sequence[Panel], style: Mapping[str, Style]) -> str:
    """Median time against size (log-log) at the most workers, one line per series, its 95% CI as a band
    (for the series drawn in full)."""
    fig, axes = _figure(len(panels), ends=ENDS)
    for i, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
        rows = _at_top_workers(panel.rows)
        if rows.empty or SIZE not in rows or rows[SIZE].isna().all():  # a function workload has no size
            _empty(ax)
            continue
        bright = panel.bright()
        ends = _lines(ax, rows, SIZE, rows["median_ns"] / 1e6, style, ("time", i), bright)
        for label, group in _series(rows[rows["label"].isin(bright)].sort_values(SIZE), style):
            ax.fill_between(group[SIZE].astype(float), group["ci_low_ns"] / 1e6, group["ci_high_ns"] / 1e6,
                            color=style[label].colour, alpha=0.12, linewidth=0)
        ax.set(yscale="log", xlabel=SIZE, ylabel="median time (ms)",
               title=f"{panel.title} (x{int(rows['workers'].max())})")
        _plain_log(ax, x=False)
        _size_axis(ax, rows[SIZE].dropna())
        _name_ends(ax, ends, style)
    return to_svg(fig)


def _scaling_panel(ax: Axes, rows: pd.DataFrame, column: str, fits: pd.DataFrame, style: Mapping[str, Style],
                   where: tuple[str, int], bright: set[str]) -> None:
    """One panel of speedup (or self-speedup) against workers: the ideal, one line per series, and the Amdahl
    fit of the best series at the most workers (dashed, its serial fraction printed) when it means something."""
    if rows.empty:
        _empty(ax)
        return
    top = int(rows["workers"].max())
    ax.plot([1, top], [1, top], color="black", linewidth=1.5, linestyle=":", zorder=1)
    ends = _lines(ax, rows, "workers", column, style, where, bright)
    best = rows[rows["workers"] == top].nlargest(1, column)
    if not best.empty:
        _fit(ax, fits, best.iloc[0], "amdahl_f" if column == "speedup" else "amdahl_f_self", style)
    ax.set_xticks(sorted(int(p) for p in rows["workers"].unique()))
    _name_ends(ax, ends, style)


def _fit(ax: Axes, fits: pd.DataFrame, row: pd.Series, column: str, style: Mapping[str, Style]) -> None:
    """The Amdahl curve of one series over 1..p, dashed in its colour, with its serial fraction printed; only
    over enough worker counts (parbench.analysis.scaling.MIN_FIT_COUNTS) for f to mean something."""
    fit = fits[(fits["point"] == row["point"]) & (fits["series"] == row["series"])]
    if fit.empty or not pd.notna(fit[column].iloc[0]) or not bool(fit["meaningful"].iloc[0]):
        return
    f = float(fit[column].iloc[0])
    p = np.linspace(1, float(row["workers"]), 30)
    ax.plot(p, amdahl(p, f), linestyle="--", linewidth=1.5, color=style[str(row["label"])].colour)
    ax.text(0.03, 0.97, f"best: {row['label']}\nAmdahl f = {f:.3f}", transform=ax.transAxes, va="top",
            bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0})


def speedup_vs_workers(panels: Sequence[Panel], fits: pd.DataFrame, style: Mapping[str, Style]) -> str:
    """At each panel's largest size: speedup vs sequential (left) and vs the same strategy at one worker
    (right) against workers, with the ideal line and the best series' Amdahl fit (dashed)."""
    fig, axes = _figure(2 * len(panels), columns=2, ends=ENDS)
    for i, panel in enumerate(panels):
        rows, bright = _largest(panel.rows), panel.bright()
        for j, (what, ylabel) in enumerate((("speedup", "speedup vs sequential"),
                                            ("self_speedup", "speedup vs itself at p = 1"))):
            ax = axes[2 * i + j]
            _scaling_panel(ax, rows[rows[what].notna()], what, fits, style, ("speedup", 2 * i + j), bright)
            ax.set(xlabel="workers", ylabel=ylabel, title=_size_title(panel, rows))
    return to_svg(fig)


def _size_title(panel: Panel, rows: pd.DataFrame) -> str:
    if rows.empty or SIZE not in rows or rows[SIZE].isna().all():
        return panel.title
    return f"{panel.title}, size {size_text(rows[SIZE].max())}"


def efficiency_vs_workers(panels: Sequence[Panel], style: Mapping[str, Style]) -> str:
    """Efficiency S / p against workers at each panel's largest size: 100% is perfect scaling."""
    fig, axes = _figure(len(panels), ends=ENDS)
    for i, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
        rows = _largest(panel.rows)
        rows = rows[rows["efficiency"].notna()]
        if rows.empty:
            _empty(ax)
            continue
        ax.axhline(1.0, color="black", linewidth=1.5, linestyle=":", zorder=1)
        ends = _lines(ax, rows, "workers", "efficiency", style, ("efficiency", i), panel.bright())
        ax.set_xticks(sorted(int(p) for p in rows["workers"].unique()))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
        ax.set(xlabel="workers", ylabel="efficiency (speedup / workers)", title=_size_title(panel, rows),
               ylim=(0, max(1.1, float(rows["efficiency"].max()) * 1.08)))
        _name_ends(ax, ends, style)
    return to_svg(fig)


def phase_breakdown(panels: Sequence[Panel], phases: pd.DataFrame) -> str:
    """Where one call's time goes (setup, spawn, scatter, compute, gather, other, teardown), as shares of
    its total, at each panel's largest size and most workers; the total is printed at the bar's end."""
    fig, axes = _figure(len(panels), height=_bar_height(panels), names=2.3, top=0.75)
    for ax, panel in zip(axes, panels, strict=True):
        rows = _at_top_workers(_largest(panel.rows))
        rows = rows[rows["key"].isin(phases.index)]
        if rows.empty:
            _empty(ax)
            continue
        _phase_bars(ax, rows, phases)
        ax.set(xlabel="share of one call from cold", title=_size_title(panel, rows))
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="upper center", ncol=len(labels), bbox_to_anchor=(0.5, 1.0),
                   handlelength=1.2, columnspacing=1.0)
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
        ax.barh(names, share, left=left, color=PHASE_COLOURS.get(phase, "#AA3377"), label=phase, height=0.7)
        left += share
    for y, total in enumerate(totals):
        ax.text(1.02, y, fmt_duration(total), va="center")
    ax.set_xlim(0, 1.45)
    ax.set_xticks([0, 0.5, 1.0], ["0", "50%", "100%"])
    ax.invert_yaxis()
    ax.grid(False)


def utilisation(panels: Sequence[Panel], style: Mapping[str, Style]) -> str:
    """CPU utilisation cpu / (wall x workers) per series at the largest size and most workers, against 1/p:
    a GIL-bound strategy sits on that line (one core busy), a parallel one near 100%."""
    fig, axes = _figure(len(panels), height=_bar_height(panels), names=1.9)
    for i, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
        rows = _at_top_workers(_largest(panel.rows))
        rows = rows[rows["strategy"] != "sequential"]
        rows = rows.iloc[np.argsort([list(style).index(label) for label in rows["label"]], kind="stable")]
        if rows.empty:
            _empty(ax, "no parallel OK cell")
            continue
        p = int(rows["workers"].max())
        bars = ax.barh(list(rows["label"]), rows["utilisation"],
                       color=[style[label].colour for label in rows["label"]], height=0.7)
        for bar, label in zip(bars, rows["label"], strict=True):
            bar.set_gid(series_id("utilisation", i, str(label)))
        ax.axvline(1.0, color="black", linewidth=1.5, linestyle=":")
        ax.axvline(1 / p, color="black", linewidth=1.5, linestyle="--")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0%}"))
        ax.set(xlabel="CPU utilisation", xlim=(0, max(1.1, float(rows["utilisation"].max()) * 1.1)),
               title=_size_title(panel, rows) + f", x{p}")
        ax.invert_yaxis()
    return to_svg(fig)


def throughput(panels: Sequence[Panel], bytes_touched: Mapping[str, int], bandwidth: float | None,
               style: Mapping[str, Style]) -> str:
    """GB/s (bytes the workload touches / median time) against size at the most workers, under the roofline
    of the memory bandwidth calibrated on this machine (one core, numpy)."""
    fig, axes = _figure(len(panels), ends=ENDS)
    for i, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
        rows = _at_top_workers(panel.rows)
        rows = rows[rows["point"].isin(bytes_touched)]
        if rows.empty or SIZE not in rows or rows[SIZE].isna().all():
            _empty(ax, "no byte count for this workload")
            continue
        rate = rows["point"].map(bytes_touched) / rows["median_ns"]  # bytes per ns = GB/s
        ends = _lines(ax, rows, SIZE, rate, style, ("throughput", i), panel.bright())
        if bandwidth:
            ax.axhline(bandwidth / 1e9, color="black", linewidth=1.5)
            ax.text(0.02, bandwidth / 1e9, "memory bandwidth (calibrated)", transform=ax.get_yaxis_transform(),
                    va="bottom")
        ax.set(yscale="log", xlabel=SIZE, ylabel="GB/s", title=panel.title)
        _plain_log(ax, x=False)
        _size_axis(ax, rows[SIZE].dropna())
        _name_ends(ax, ends, style)
    return to_svg(fig)
