"""The GIL story of a run measured under several interpreters: strategies x interpreters side by side, each
interpreter's single-thread cost against the running one, and verdicts computed from the measurements.

Works on the annotated summary (parbench.analysis.scaling.annotate) and returns plain data and sentences; the
report lays them out. An interpreter is named by what its records say it was (results.interpreter.label): a
free-threaded build whose GIL came back during a cell is never called GIL-free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from parbench.analysis.physics import SUSPECT
from parbench.analysis.scaling import ok_rows
from parbench.results import interpreter
from parbench.units import fmt_count, fmt_duration

PARALLEL_UTILISATION = 0.8  # at or above: the workers ran at once (threads under a GIL stay near 1/workers)
SEQUENTIAL = "sequential"


@dataclass(frozen=True)
class GilStory:
    """One workload point across interpreters: a table (rows x interpreters) and the verdict sentences."""

    point: str  # "array-sum kernel=python size=1e6"
    interpreters: tuple[str, ...]  # column labels: "3.11.7", "3.13.0", "3.14.0t"
    rows: tuple[tuple[str, tuple[str, ...]], ...]  # (row label, one cell text per interpreter)
    verdicts: tuple[str, ...]


def _bare_point(key: str) -> str:
    cell = json.loads(key)
    params = " ".join(f"{k}={fmt_count(v) if isinstance(v, int) else v}" for k, v in sorted(cell["params"].items()))
    return f"{cell['workload']} {params}"


def _facts(row: pd.Series) -> dict[str, Any] | None:
    if pd.isna(row.get("python_version")):
        return None
    return {"version": row["python_version"], "free_threaded": bool(row.get("free_threaded")),
            "gil_start": row.get("gil_start"), "gil_end": row.get("gil_end")}


def _asked(df: pd.DataFrame) -> pd.Series:
    """The interpreter each cell asked for, as one string ('3.13', '3.14t gil=off'; '' for the running one)."""
    python = df["python"].astype(object).where(df["python"].notna(), "").astype(str)
    gil = df["gil"] if "gil" in df else pd.Series(None, index=df.index)
    return python + gil.astype(object).map(lambda g: f" gil={g}" if pd.notna(g) else "")


def _interpreter_labels(rows: pd.DataFrame) -> dict[str, str]:
    """Each interpreter as asked -> what the records say it was ('3.13.0', '3.14.0t (GIL re-enabled)')."""
    labels: dict[str, str] = {}
    for asked, group in rows.groupby("asked", sort=False):
        measured = [f for f in (_facts(r) for _, r in group.iterrows()) if f]
        worst = max(measured, key=lambda f: interpreter.gil_state(f) != "no-gil", default=None)  # GIL seen: say so
        labels[str(asked)] = interpreter.label(worst, fallback=str(asked) or "this one")
    return labels


def _version(label: str) -> tuple[int, ...]:
    return tuple(int(part) for part in label.split(" ", maxsplit=1)[0].rstrip("t").split(".") if part.isdigit())


def _top(rows: pd.DataFrame) -> pd.DataFrame:
    """Each strategy's cells at its largest worker count."""
    most = rows.groupby("strategy")["workers"].transform("max")
    return rows[rows["workers"] == most]


def _cell_text(cells: pd.DataFrame) -> str:
    if cells.empty:
        return "-"
    row = cells.iloc[0]
    if row["status"] != "OK":
        return "n/a" if row["status"] == "UNAVAILABLE" else str(row["status"])
    util = f" {row['utilisation']:.0%} CPU" if pd.notna(row.get("utilisation")) else ""
    return f"{row['speedup']:.2f}x{util}" if pd.notna(row.get("speedup")) else "-"


def _sequential_ns(rows: pd.DataFrame, key: str, repeats: pd.DataFrame | None) -> float | None:
    """The median sequential time under one interpreter: over every sequential run at this point when the run's
    repeats are given (the sequential cell's and every paired reference's: all of them sequential, under that
    interpreter, spread over the run), else the sequential cell's median."""
    if repeats is not None:
        mine = repeats[(repeats["asked"] == key) & (repeats["ok"].fillna(False).astype(bool))]
        walls = pd.concat([mine.loc[mine["strategy"] == SEQUENTIAL, "wall_ns"], mine["ref_wall_ns"]]).dropna()
        if len(walls):
            return float(walls.astype(float).median())
    seq = ok_rows(rows[(rows["strategy"] == SEQUENTIAL) & (rows["workers"] == 1) & (rows["asked"] == key)])
    return float(seq["median_ns"].iloc[0]) if not seq.empty else None


def _status(rows: pd.DataFrame, key: str) -> str:
    """Why an interpreter has no sequential time: its cell's status (SUSPECT: another tenant took its CPU)."""
    seq = rows[(rows["strategy"] == SEQUENTIAL) & (rows["workers"] == 1) & (rows["asked"] == key)]
    return str(seq["status"].iloc[0]) if not seq.empty else "-"


def _single_thread_row(rows: pd.DataFrame, keys: list[str], running: str | None, labels: Mapping[str, str],
                       repeats: pd.DataFrame | None) -> tuple[tuple[str, tuple[str, ...]], str | None]:
    """The sequential time per interpreter and its ratio to the running interpreter's (same run)."""
    times = {k: _sequential_ns(rows, k, repeats) for k in keys}
    base_key = next((k for k in keys if running and labels[k].split(" ")[0] in (running, f"{running}t")), None)
    base = times.get(base_key) if base_key is not None else None
    texts = []
    for k in keys:
        t = times[k]
        ratio = f" ({t / base:.2f}x)" if t and base else ""
        texts.append(f"{fmt_duration(t)}{ratio}" if t else _status(rows, k))
    sentence = None
    others = [f"{labels[k]} takes {t / base:.2f}x the time" for k in keys
              if k != base_key and (t := times[k]) and base]
    if base_key is not None and others:
        sentence = (f"On one thread (sequential), {', '.join(others)} of {labels[base_key]}, the interpreter the "
                    "sweep ran from.")
    return ("sequential time (x running)", tuple(texts)), sentence


def _speedups(top: pd.DataFrame, strategy: str, keys: list[str],
              labels: Mapping[str, str]) -> list[tuple[str, float, float, int]]:
    found = []
    for k in keys:
        cells = ok_rows(top[(top["strategy"] == strategy) & (top["asked"] == k)])
        if not cells.empty and pd.notna(cells["speedup"].iloc[0]):
            row = cells.iloc[0]
            found.append((labels[k], float(row["speedup"]), float(row["utilisation"]), int(row["workers"])))
    return found


def _family_sentences(top: pd.DataFrame, keys: list[str], labels: Mapping[str, str],
                      ) -> list[str]:
    lines = []
    threads = _speedups(top, "threads", keys, labels)
    if threads:
        lines.append(f"threads reach {' and '.join(f'{s:.2f}x on {n}' for n, s, _, _ in threads)} "
                     f"at {threads[0][3]} workers (CPU {', '.join(f'{u:.0%}' for *_, u, _ in threads)}).")
    for name, s, util, p in _speedups(top, "subinterpreters", keys, labels):
        how = ("each has its own GIL, so they run Python in parallel" if util >= PARALLEL_UTILISATION
               else "they did not keep every CPU busy")
        lines.append(f"subinterpreters reach {s:.2f}x at {p} workers on {name} using {util:.0%} CPU: {how}.")
    return lines


def _start_sentence(rows: pd.DataFrame, calibration: Mapping[str, Any]) -> str | None:
    """Setup of the subinterpreters cells per worker (create + load the kernels) against a process start."""
    # Setup is timed whatever the speedup's physics say, so a SUSPECT cell's start time still counts.
    sub = rows[(rows["strategy"] == "subinterpreters") & rows["status"].isin(["OK", SUSPECT])]
    fork = (calibration.get("process_start_ns") or {}).get("fork")
    if sub.empty or not fork or sub["setup_ns"].isna().all():
        return None
    each = float((sub["setup_ns"] / sub["workers"]).median())
    return (f"subinterpreters start in {fmt_duration(each)} each (setup per worker) against "
            f"{fmt_duration(fork)} for a forked process (start + join, calibration).")


def gil_story(summary: pd.DataFrame, running: str | None, calibration: Mapping[str, Any],
              frame: pd.DataFrame | None = None) -> tuple[GilStory, ...]:
    """One story per workload point measured under two interpreters or more (or under a free-threaded build).
    `frame` (the run's tidy repeats) lets each interpreter's sequential time use every paired reference too."""
    if summary.empty or "python" not in summary or summary["python"].isna().all():
        return ()
    stories = []
    summary = summary.assign(asked=_asked(summary))
    repeats = None if frame is None else frame.assign(asked=_asked(frame), point=frame["key"].map(_bare_point))
    for point, rows in summary.groupby(summary["key"].map(_bare_point), sort=True):
        labels = _interpreter_labels(rows)
        keys = sorted(labels, key=lambda k: _version(labels[k]))
        if len(keys) < 2 and not any("t" in v.split(" ")[0] for v in labels.values()):
            continue
        top = _top(rows[rows["strategy"] != SEQUENTIAL])
        table = [(f"{s} x{int(top[top['strategy'] == s]['workers'].max())}",
                  tuple(_cell_text(top[(top["strategy"] == s) & (top["asked"] == k)]) for k in keys))
                 for s in sorted(set(top["strategy"]))]
        at = None if repeats is None else repeats[repeats["point"] == point]
        single, cost = _single_thread_row(rows, keys, running, labels, at)
        lines = _family_sentences(top, keys, labels)
        lines += [s for s in (cost, _start_sentence(rows, calibration)) if s]
        stories.append(GilStory(str(point), tuple(labels[k] for k in keys), (single, *table), tuple(lines)))
    return tuple(stories)
