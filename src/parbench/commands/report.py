"""`parbench report RUN`: the run as one self-contained HTML file (figures, verdicts, warnings, environment,
every cell), or as a compact Markdown summary for CI job summaries and pull requests.

The HTML report goes to RUN/report.html unless -o says otherwise; Markdown goes to stdout unless -o names
a file. A sweep writes RUN/report.html itself when it ends (see write_html).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from parbench.errors import UserError

if TYPE_CHECKING:
    from parbench.report.model import Report

NAME = "report"
HELP = "write a run's report: one self-contained HTML file (figures, verdicts, every cell) or Markdown"
REPORT_FILE = "report.html"
FORMATS = ("html", "md")


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


def check_writable(target: Path) -> None:
    if target.is_dir():
        raise UserError(f"-o: {target} is a folder; name a file")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"-o: no folder {folder} to write {target.name} into")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise UserError(f"cannot write to {folder}: {exc.strerror or exc}") from None


def _umask() -> int:
    current = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(current)
    return current


def write_atomically(target: Path, text: str) -> None:
    """Replace `target` in one step: a reader (a browser refreshing) never sees half a report. The file gets
    the mode any new file gets here (0644 under the usual umask), not mkstemp's private 0600."""
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            os.fchmod(f.fileno(), 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None


def renderer(fmt: str) -> Callable[[Report], str]:
    """The function turning a report model into text; the HTML one needs the `report` extra."""
    if fmt == "md":
        from parbench.report.markdown import render as markdown

        return markdown
    try:
        from parbench.report.html import render as html
    except ImportError as exc:
        raise UserError(f"the HTML report needs matplotlib and jinja2 ({exc.name} is missing): "
                        "pip install 'parbench[report]', or use --format md") from None
    return html


def write_html(run: Path, report: Report | None = None) -> Path:
    """RUN/report.html, as a sweep writes it when it ends (from `report` when the sweep already built it)."""
    from parbench.report.model import build
    from parbench.results.reader import open_run

    render = renderer("html")
    target = run / REPORT_FILE
    write_atomically(target, render(report if report is not None else build(open_run(run))))
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
