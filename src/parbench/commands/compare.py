"""`parbench compare BASE NEW`: a regression gate between two runs, cell by cell (asv's rule).

A cell regressed when NEW is slower than --factor x BASE and a Mann-Whitney U test on the wall times gives
q < --alpha (its p-value adjusted with Benjamini-Hochberg for the number of cells compared); a cell that
was OK and no longer is regressed too. A cell measured with a paired sequential reference is judged on its
time relative to that reference (a slower or shared machine slows both sides alike) unless --raw; the others
relative to the run-wide drift (the median ratio over every common cell, printed) unless --absolute.
Exit 1 when anything regressed, 0 otherwise, 2 on bad input (not a run, no common cell, another schema version).
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from parbench.analysis import DEFAULT_ALPHA, DEFAULT_FACTOR
from parbench.commands.common import wide_console
from parbench.errors import UserError

if TYPE_CHECKING:
    from parbench.analysis.compare import CellChange, Comparison

NAME = "compare"
HELP = "compare two runs cell by cell: ratio of medians with its CI, Mann-Whitney U; exit 1 on a regression"
FORMATS = ("table", "md", "json")
COLOURS = {"regressed": "red", "improved": "green"}


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", type=Path, metavar="BASE", help="the reference run folder")
    parser.add_argument("new", type=Path, metavar="NEW", help="the run to judge against it")
    parser.add_argument("--factor", type=_positive, default=DEFAULT_FACTOR,
                        help="slower than factor x base (and significant) is a regression "
                             f"(default: {DEFAULT_FACTOR:.2f})")
    parser.add_argument("--alpha", type=_positive, default=DEFAULT_ALPHA,
                        help=f"significance level of the Mann-Whitney U test (default: {DEFAULT_ALPHA})")
    parser.add_argument("--absolute", action="store_true",
                        help="judge raw times, not relative to the run-wide drift (asv's rule as is)")
    parser.add_argument("--raw", action="store_true",
                        help="judge paired cells on raw times too, not relative to their paired sequential reference")
    parser.add_argument("--format", choices=FORMATS, default="table", help="table (default), md or json")
    parser.add_argument("--all", action="store_true", help="list every common cell, not only the flagged ones")


def _check(args: argparse.Namespace) -> None:
    if args.factor <= 1:
        raise UserError(f"--factor must be above 1 (a ratio of medians), got {args.factor}")
    if args.alpha >= 1:
        raise UserError(f"--alpha must be below 1, got {args.alpha}")


def _nulls(value: object) -> object:
    """NaN (no measurement) as None: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _nulls(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_nulls(v) for v in value]
    return value


def as_json(comparison: Comparison) -> str:
    """Every field of the comparison, with the counts of regressed and improved cells."""
    raw = asdict(comparison)
    raw["regressed"], raw["improved"] = len(comparison.regressed), len(comparison.improved)
    return json.dumps(_nulls(raw), indent=2)


def as_markdown(comparison: Comparison, every: bool) -> str:
    from parbench.report.markdown import comparison_section

    lines = list(comparison_section(comparison, every, limit=None))
    lines += [f"- only in `{comparison.base}`: {label}" for label in comparison.only_base]
    lines += [f"- only in `{comparison.new}`: {label}" for label in comparison.only_new]
    return "\n".join(lines).rstrip() + "\n"


def _row(c: CellChange) -> list[str]:
    """One table row; a cell without a ratio (a status change) shows its reason instead of a p-value."""
    from rich.markup import escape

    from parbench.units import fmt_duration

    verdict = f"[{COLOURS.get(c.verdict, 'white')}]{c.verdict_text()}[/]"
    if math.isnan(c.ratio):
        return [escape(c.label), verdict, "-", "-", "-", "-", "-", "-", c.reason]
    return [escape(c.label), verdict, f"{c.ratio:.3f}", f"{c.ci_low:.3f}-{c.ci_high:.3f}", f"{c.relative:.3f}",
            fmt_duration(c.base_median_ns), fmt_duration(c.new_median_ns), f"{c.p_value:.2g}", f"{c.q_value:.2g}"]


def print_table(comparison: Comparison, every: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    console = wide_console()
    title = (f"{comparison.new} vs {comparison.base} (factor {comparison.factor}, alpha {comparison.alpha}, "
             f"run-wide drift x{comparison.drift:.3f})")
    table = Table(title=title, title_justify="left")
    for column in ("cell", "verdict", "ratio", "95% CI", "vs drift", "base", "new", "p", "q"):
        table.add_column(column, justify="left" if column in ("cell", "verdict") else "right")
    for change in comparison.shown(every):
        table.add_row(*_row(change))
    if table.row_count:
        console.print(table)
    for note in comparison.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    for label in comparison.only_base:
        console.print(escape(f"only in {comparison.base}: {label}"))
    for label in comparison.only_new:
        console.print(escape(f"only in {comparison.new}: {label}"))
    console.print(f"{len(comparison.cells)} common cells: {len(comparison.regressed)} regressed, "
                  f"{len(comparison.improved)} improved, {len(comparison.only_base)} only in {comparison.base}, "
                  f"{len(comparison.only_new)} only in {comparison.new}")


def main(args: argparse.Namespace) -> int:
    from parbench.analysis.compare import compare_runs
    from parbench.results.reader import open_run

    _check(args)
    base, new = open_run(args.base), open_run(args.new)  # each refuses a schema version it cannot read
    if base.path.resolve() == new.path.resolve():
        # A run against itself compares every sample with itself: "0 regressed" would be a vacuous pass.
        raise UserError(f"{args.base} and {args.new} are the same run ({base.path.resolve()}): compare two runs")
    comparison = compare_runs(base.frame, new.frame, args.factor, args.alpha, args.absolute, paired=not args.raw)
    if not comparison.cells:
        raise UserError(f"{base.path} and {new.path} have no cell in common: nothing to compare")
    if args.format == "json":
        print(as_json(comparison))
    elif args.format == "md":
        print(as_markdown(comparison, args.all), end="")
    else:
        print_table(comparison, args.all)
    return 1 if comparison.regressed else 0
