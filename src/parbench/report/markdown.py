"""The Markdown report: a compact summary (winners, verdicts, speedup tables, warnings, comparison) for a CI
job summary or a pull request. GitHub-flavoured tables; no figures; needs neither matplotlib nor jinja2.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pandas as pd

from parbench.analysis.compare import Comparison
from parbench.analysis.scaling import SIZE, at_top_workers, size_text
from parbench.report.model import Report, Variant
from parbench.report.style import ordered
from parbench.units import fmt_duration

FLAGGED_LIMIT = 50  # compare rows shown; the rest are counted


def cell(text: object) -> str:
    """A table cell: pipes escaped, line breaks flattened."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> list[str]:
    """A GitHub-flavoured Markdown table (columns listed in `right` aligned right)."""
    lines = ["| " + " | ".join(cell(h) for h in header) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _speedup(row: pd.Series) -> str:
    if row["status"] != "OK":
        return str(row["status"])
    if not pd.notna(row["speedup"]):
        return "-"
    return f"{row['speedup']:.2f}x" + ("~" if row.get("noisy") is True else "")


def speedup_table(variant: Variant) -> list[str]:
    """Strategies x sizes at the most workers: speedup vs sequential (~ noisy, failed cells by status)."""
    rows = variant.rows
    top = int(rows["workers"].max())
    shown = at_top_workers(rows)
    sizes = sorted(shown[SIZE].dropna().unique()) if SIZE in shown else []
    header = ["strategy", *(f"{size_text(s)} x{top}" for s in sizes)] if sizes else ["strategy", f"x{top}"]
    body = []
    for label, group in ordered(shown, "label").groupby("label", sort=False):
        by_size = {r[SIZE] if sizes else None: _speedup(r) for _, r in group.iterrows()}
        body.append([label, *(by_size.get(s, "") for s in (sizes or [None]))])
    return table(header, body, right=range(1, len(header)))


def winners(report: Report) -> list[str]:
    rows = []
    for workload in report.workloads:
        for variant in workload.variants:
            rows.append([variant.title, variant.verdict.winner, variant.verdict.lines[0]])
    return table(["workload", "winner at the largest size", "in words"], rows)


def warnings(report: Report) -> list[str]:
    """The run's own notices, then one row per cell with warnings (its kinds and reasons), as in the HTML."""
    if not report.notices:
        return ["No warnings: every cell is OK, steady (CV under 10%) and above a millisecond.", ""]
    lines = [f"- **{n.kind}** ({n.subject}): {n.detail}" for n in report.run_notices()]
    flagged = report.flagged_cells()
    rows = [[", ".join(f.kinds), f.subject, "; ".join(f.details)] for f in flagged]
    return [*lines, *([""] if lines else []), *(table(["warnings", "cell", "why"], rows) if rows else [])]


def comparison_section(comparison: Comparison, every: bool = False,
                       limit: int | None = FLAGGED_LIMIT) -> Iterator[str]:
    """The counts, the notes and a table of the cells Comparison.shown lists (at most `limit` of them)."""
    yield f"### Compared with `{comparison.base}`"
    yield ""
    yield (f"{len(comparison.cells)} common cells: **{len(comparison.regressed)} regressed**, "
           f"{len(comparison.improved)} improved (factor {comparison.factor}, Mann-Whitney q < {comparison.alpha} "
           "adjusted over the cells compared); "
           f"{len(comparison.only_base)} only in the base run, {len(comparison.only_new)} only in this one.")
    yield ""
    yield from (f"> {note}\n" for note in comparison.notes)
    flagged = comparison.shown(every)
    limit = len(flagged) if limit is None else limit
    if flagged:
        yield from table(["cell", "verdict", "ratio (95% CI)", "vs drift", "base", "new", "p (q)"],
                         [[c.label, c.verdict_text(), c.ratio_text(),
                           f"{c.relative:.3f}" if pd.notna(c.relative) else "-", fmt_duration(c.base_median_ns),
                           fmt_duration(c.new_median_ns),
                           f"{c.p_value:.2g} ({c.q_value:.2g})" if pd.notna(c.p_value) else c.reason]
                          for c in flagged[:limit]], right=(2, 3, 4, 5, 6))
        if len(flagged) > limit:
            yield f"... and {len(flagged) - limit} more (parbench compare lists them all)."
            yield ""


def header(report: Report) -> list[str]:
    counts = ", ".join(f"{n} {s}" for s, n in report.status_counts().items())
    advice = report.trust.advice()
    return [f"## parbench report: `{report.run.run_id}`", "", *([f"**{advice}**", ""] if advice else []),
            report.trust.line(), "", f"{report.machine_line()}. {len(report.summary)} cells: {counts}.", ""]


def gil_section(report: Report) -> list[str]:
    """Strategies x interpreters, when the run measured several (parbench.analysis.interpreters)."""
    lines = []
    for story in report.gil_story:
        lines += [f"### Beyond the GIL: {story.point}", "", *(f"- {line}" for line in story.verdicts), ""]
        lines += table(["strategy", *(f"Python {i}" for i in story.interpreters)],
                       [[label, *cells] for label, cells in story.rows], right=range(1, len(story.interpreters) + 1))
    return lines


def render(report: Report) -> str:
    """The whole Markdown summary."""
    lines = [*header(report), "### Winners", "", *winners(report), *gil_section(report)]
    for workload in report.workloads:
        for variant in workload.variants:
            lines += [f"### {variant.title}", "", *(f"- {line}" for line in variant.verdict.lines), ""]
            lines += ["Speedup vs sequential at the most workers (~ noisy: CV > 10%):", "", *speedup_table(variant)]
    if report.comparison is not None:
        lines += list(comparison_section(report.comparison))
    lines += [f"### Warnings: {len(report.flagged_cells())} of {len(report.summary)} cells", "", *warnings(report)]
    return "\n".join(lines).rstrip() + "\n"
