"""`parbench report RUN`: the run as one self-contained HTML file (figures, verdicts, warnings, environment,
every cell), or as a compact Markdown summary for CI job summaries and pull requests.

The HTML report goes to RUN/report.html unless -o says otherwise; Markdown goes to stdout unless -o names
a file. A sweep writes RUN/report.html itself when it ends (report.output.write_html).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from parbench.report.output import FORMATS, REPORT_FILE, check_writable, renderer, write_atomically

NAME = "report"
HELP = "write a run's report: one self-contained HTML file (figures, verdicts, every cell) or Markdown"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, metavar="RUN", help="a run folder (or its records.jsonl)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help=f"where to write it ('-': stdout); default: RUN/{REPORT_FILE} for html, stdout for md")
    parser.add_argument("--format", choices=FORMATS, default="html", help="html (default) or md")
    parser.add_argument("--baseline", type=Path, metavar="RUN",
                        help="add a comparison with this run (ratios, Mann-Whitney U, as `parbench compare`)")


def _destination(args: argparse.Namespace, run_path: Path) -> Path | None:
    """The file to write, or None for stdout; refused now (before any work) when it cannot be written."""
    if args.output == "-" or (args.output is None and args.format == "md"):
        return None
    target = Path(args.output) if args.output is not None else run_path / REPORT_FILE
    check_writable(target)
    return target


def main(args: argparse.Namespace) -> int:
    from parbench.report.model import build
    from parbench.results.reader import open_run

    run = open_run(args.run)
    baseline = open_run(args.baseline) if args.baseline is not None else None
    target = _destination(args, run.path)
    render = renderer(args.format)
    text = render(build(run, baseline))
    if target is None:
        sys.stdout.write(text)
        return 0
    write_atomically(target, text)
    print(f"report: {target}")
    return 0
