"""Opening a run for `report` and `compare`: every way it can be unusable is a UserError naming the path,
so the CLI says it in one line and exits 2."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parbench.errors import UserError
from parbench.results.schema import READABLE_VERSIONS
from parbench.results.store import META, RECORDS, load, run_folder, torn_tail

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class OpenedRun:
    """A run folder, its meta.json (empty when missing) and its tidy frame (parbench.load)."""

    path: Path
    meta: dict[str, Any]
    frame: pd.DataFrame
    torn: bool = False  # its records.jsonl ends in a line cut mid-write, left out of `frame`

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id") or self.path.name)


def _meta(folder: Path) -> dict[str, Any]:
    path = folder / META
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: not a parbench meta.json")
    version = raw.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise UserError(f"{path}: schema_version {version!r}; this parbench reads {READABLE_VERSIONS} "
                        "and knows no migration from it")
    return raw


def open_run(path: str | Path) -> OpenedRun:
    """The run at `path` (its folder, records.jsonl or meta.json), refusing what is not a usable run."""
    try:
        folder = run_folder(path)
    except FileNotFoundError:
        raise UserError(f"{path}: not a parbench run (no {RECORDS} there)") from None
    meta = _meta(folder)
    try:
        frame = load(folder)
    except ValueError as exc:  # a record of another schema version, or a line that is not JSON
        raise UserError(f"{folder}: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise UserError(f"{folder}: {RECORDS} holds something that is not a parbench record ({exc!r})") from None
    except OSError as exc:
        raise UserError(f"{folder}: cannot read it: {exc}") from None
    if frame.empty:
        raise UserError(f"{folder}: the run has no records yet (nothing measured)")
    return OpenedRun(folder, meta, frame, torn_tail(folder / RECORDS))
