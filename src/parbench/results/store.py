"""A run folder: `meta.json` (environment, spec, plan; rewritten atomically) and `records.jsonl` (one Record
per line, appended, flushed and fsynced as each cell ends, so an interrupted run keeps every finished cell).

`load()` turns a run into a tidy pandas DataFrame (pandas is imported only then: the sweep driver and the
CLI stay light).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parbench.errors import RunFolderError
from parbench.interrupts import held
from parbench.results.meta import RunMeta
from parbench.results.schema import Record

if TYPE_CHECKING:
    import pandas as pd

META = "meta.json"
RECORDS = "records.jsonl"
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_run_id(run_id: str) -> str:
    if not RUN_ID.fullmatch(run_id):
        raise RunFolderError(f"--run-id: {run_id!r} is not a usable folder name (letters, digits, '.', '_', '-')")
    return run_id


def check_results_dir(results: Path) -> Path:
    """The results folder can hold a new run: it is a folder (or can be made) and is writable."""
    if results.exists() and not results.is_dir():
        raise RunFolderError(f"--results: {results} is a file, not a folder")
    existing = next(p for p in (results, *results.absolute().parents) if p.exists())
    if not existing.is_dir() or not _can_write(existing):
        raise RunFolderError(f"--results: cannot write to {existing}")
    return results


def _can_write(folder: Path) -> bool:
    """Try it: os.access says yes to root on an immutable folder or a read-only file system."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


class RunStore:
    """One run folder under the results folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run_id = path.name

    @classmethod
    def check_new(cls, results: Path, run_id: str) -> RunStore:
        """Validate where a new run will go; writes nothing."""
        check_results_dir(results)
        path = results / check_run_id(run_id)
        if path.exists():
            raise RunFolderError(f"run {run_id!r} already exists in {results}; pick another --run-id or --resume it")
        return cls(path)

    @classmethod
    def existing(cls, results: Path, run_id: str) -> RunStore:
        """An existing run to resume: it must have its meta.json."""
        path = results / check_run_id(run_id)
        if not (path / META).is_file():
            raise RunFolderError(f"--resume: no run {run_id!r} in {results} (no {path / META})")
        if not os.access(path, os.W_OK):
            raise RunFolderError(f"--resume: cannot write to {path}")
        return cls(path)

    def create(self, meta: RunMeta) -> None:
        self.path.mkdir(parents=True)
        self.write_meta(meta)
        (self.path / RECORDS).touch()

    def meta(self) -> RunMeta:
        """meta.json, checked (MetaError says what is wrong with it)."""
        return RunMeta.from_dict(json.loads((self.path / META).read_text(encoding="utf-8")))

    def write_meta(self, meta: RunMeta) -> None:
        """Replace meta.json atomically: a reader sees the old file or the new one, never half of one."""
        tmp = self.path / f".{META}.tmp"
        tmp.write_text(json.dumps(meta.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, self.path / META)

    def append(self, record: Record) -> None:
        line = (record.to_json() + "\n").encode()
        with held():
            fd = os.open(self.path / RECORDS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> list[Record]:
        """Every whole record; a torn last line (the driver killed mid-write) is dropped."""
        return [Record.from_dict(raw) for raw in read_lines(self.path / RECORDS)]

    def checked_meta(self) -> RunMeta:
        """meta.json, or a UserError saying why it cannot be read."""
        try:
            return self.meta()
        except (OSError, ValueError) as exc:  # MetaError is a ValueError
            raise RunFolderError(f"{self.path / META}: cannot read it: {exc}") from None

    def checked_records(self) -> list[Record]:
        """records(), or a UserError naming the file when a line (other than a torn last one) is not a record."""
        try:
            return self.records()
        except (ValueError, KeyError, TypeError) as exc:
            raise RunFolderError(f"{self.path / RECORDS}: not a usable run ({exc!r}); nothing was changed") from None
        except OSError as exc:
            raise RunFolderError(f"{self.path / RECORDS}: cannot read it: {exc}") from None

    def drop_torn_tail(self) -> Path | None:
        """Cut a last line that was torn mid-write, so that appending starts on a fresh line (a whole last record
        without its newline gets one). The cut file replaces the old one in one step, and the old one is kept
        beside it: returns where, or None when nothing was cut."""
        path = self.path / RECORDS
        if not torn_tail(path):
            if path.exists() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
                self._replace(path.read_bytes() + b"\n")
            return None
        whole = path.read_bytes()
        kept = _free_name(path.with_name(f"{RECORDS}.torn"))
        with held():
            kept.write_bytes(whole)
            self._replace(whole[: whole.rfind(b"\n") + 1])
        return kept

    def _replace(self, content: bytes) -> None:
        """Replace records.jsonl in one step (a crash leaves the old file or the new one, never half)."""
        tmp = self.path / f".{RECORDS}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, self.path / RECORDS)


def _free_name(path: Path) -> Path:
    """`path`, or `path.2`, `path.3`, ... : the first that does not exist."""
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.name}.{number}")
    return candidate


def torn_tail(path: Path) -> bool:
    """Whether a records.jsonl ends in a line that was cut mid-write (read_lines leaves it out)."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return False
        f.seek(0)
        last = f.read().rsplit(b"\n", 1)[-1]
    try:
        json.loads(last)
    except ValueError:
        return bool(last.strip())
    return False


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a records.jsonl, skipping a torn last line."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    found = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            found.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # the last, unterminated line: a write that never finished
                break
            raise ValueError(f"{path}:{number}: not a JSON record") from None
    return found


def run_folder(path: str | os.PathLike[str]) -> Path:
    """A run folder from its path, its records.jsonl or its meta.json."""
    folder = Path(path)
    if folder.name in (RECORDS, META):
        folder = folder.parent
    if not (folder / RECORDS).is_file():
        raise FileNotFoundError(f"{folder} is not a parbench run (no {RECORDS})")
    return folder


def load(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A run as a tidy DataFrame: one row per timed repeat (see parbench.results.tidy for the columns)."""
    from parbench.results.tidy import frame

    folder = run_folder(path)
    return frame(folder.name, RunStore(folder).records())
