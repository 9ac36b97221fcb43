"""Writing a report: pick the renderer for a format, write the file in one step, and RUN/report.html as a sweep
leaves it. The library layer (runner.lifecycle, parbench.Run) and `parbench report` both call these."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from parbench.errors import RunFolderError

if TYPE_CHECKING:
    from parbench.report.model import Report

REPORT_FILE = "report.html"
FORMATS = ("html", "md")


def check_writable(target: Path) -> None:
    if target.is_dir():
        raise RunFolderError(f"-o: {target} is a folder; name a file")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise RunFolderError(f"-o: no folder {folder} to write {target.name} into")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise RunFolderError(f"cannot write to {folder}: {exc.strerror or exc}") from None


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
        raise RunFolderError(f"cannot write {target}: {exc.strerror or exc}") from None


def renderer(fmt: str) -> Callable[[Report], str]:
    """The function turning a report model into text; the HTML one needs the `report` extra."""
    if fmt == "md":
        from parbench.report.markdown import render as markdown

        return markdown
    try:
        from parbench.report.html import render as html
    except ImportError as exc:
        raise RunFolderError(f"the HTML report needs matplotlib and jinja2 ({exc.name} is missing): "
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
