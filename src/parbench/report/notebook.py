"""A run as a notebook shows it (parbench.Run._repr_html_): the trust line, each variant's winner sentence, the
terminal's speedup and best-strategy tables as HTML, and the first workload's speedup figure, all inline."""

from __future__ import annotations

import io
from html import escape

from parbench.report.model import Report


def notebook_html(report: Report) -> str:
    parts = [f"<h4>parbench run {escape(report.run.run_id)}</h4>", f"<p>{escape(report.trust.line())}</p>",
             "<ul>" + "".join(f"<li><b>{escape(v.title)}</b>: {escape(v.verdict.lines[0])}</li>"
                              for w in report.workloads for v in w.variants if v.verdict.lines) + "</ul>",
             _tables(report), _figure(report)]
    return "<div class='parbench-run'>" + "\n".join(parts) + "</div>"


def _tables(report: Report) -> str:
    """The terminal's tables (parbench.report.terminal), exported from rich as HTML with inline styles."""
    from rich.console import Console

    from parbench.report.terminal import best_table, speedup_table

    if report.summary.empty or "median_ns" not in report.summary:
        return "<p>no cell produced a measurement</p>"
    console = Console(record=True, file=io.StringIO(), width=160)
    console.print(speedup_table(report.summary))
    console.print(best_table(report.summary))
    return console.export_html(inline_styles=True, code_format="<pre style='font-size:12px'>{code}</pre>")


def _figure(report: Report) -> str:
    """Speedup vs workers of the first workload under its legend (the report has every figure)."""
    from parbench.report import plots
    from parbench.report.style import series_styles

    if not report.workloads:
        return ""
    workload = report.workloads[0]
    panels = [plots.Panel(v.title, v.rows) for v in workload.variants]
    style = series_styles(report.summary)
    labels = {str(label) for v in workload.variants for label in v.rows["label"]}
    return plots.legend(style, labels, [("ideal", ":")]) + plots.speedup_vs_workers(panels, report.fits, style)
