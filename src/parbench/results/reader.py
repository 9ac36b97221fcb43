"""Opening a run for `report` and `compare`: every way it can be unusable is a UserError naming the path,
so the CLI says it in one line and exits 2."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from parbench.errors import RunFolderError
from parbench.results.meta import MetaError, RunMeta
from parbench.results.store import META, RECORDS, load, run_folder, torn_tail

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class OpenedRun:
    """A run folder, its meta.json (empty when missing) and its tidy frame (parbench.load)."""

    path: Path
    meta: RunMeta
    frame: pd.DataFrame
    torn: bool = False  # its records.jsonl ends in a line cut mid-write, left out of `frame`

    @property
    def run_id(self) -> str:
        return self.meta.run_id or self.path.name


def _meta(folder: Path) -> RunMeta:
    """The run's meta.json, checked; a run without one (records alone) gets empty metadata."""
    path = folder / META
    if not path.is_file():
        return RunMeta(run_id=folder.name)
    try:
        return RunMeta.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except MetaError as exc:
        raise RunFolderError(f"{path}: {exc}") from None
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{path}: cannot read it: {exc}") from None


def open_run(path: str | Path) -> OpenedRun:
    """The run at `path` (its folder, records.jsonl or meta.json), refusing what is not a usable run."""
    try:
        folder = run_folder(path)
    except FileNotFoundError:
        raise RunFolderError(f"{path}: not a parbench run (no {RECORDS} there)") from None
    meta = _meta(folder)
    try:
        frame = load(folder)
    except ValueError as exc:  # a record of another schema version, or a line that is not JSON
        raise RunFolderError(f"{folder}: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise RunFolderError(f"{folder}: {RECORDS} holds something that is not a parbench record ({exc!r})") from None
    except OSError as exc:
        raise RunFolderError(f"{folder}: cannot read it: {exc}") from None
    if frame.empty:
        raise RunFolderError(f"{folder}: the run has no records yet (nothing measured)")
    return OpenedRun(folder, meta, frame, torn_tail(folder / RECORDS))
