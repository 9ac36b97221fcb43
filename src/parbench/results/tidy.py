"""Records -> a tidy pandas DataFrame: one row per timed repeat, one column per variable.

Columns, in order:
  run_id, key (Cell.key(): the cell's identity), workload, strategy, family, workers, start_method,
  python and gil (the interpreter asked for and its PYTHON_GIL setting; empty: the running interpreter),
  python_version, free_threaded, gil_start, gil_end (what the probe ran under: results.interpreter),
  the workload parameters by name (size, kernel, fill, delay, ...; missing where a workload lacks one),
  the strategy options as option_<name> (option_chunksize, option_batch, ...),
  status, error, visit (which of the cell's sweep rounds), repeat (0-based within its visit; <NA> on the
  single row of a cell without timed repeats),
  wall_ns, cpu_ns (user+sys of the probe and all its descendants), phase_<name>_ns (phase_spawn_ns,
  phase_scatter_ns, phase_compute_ns, phase_gather_ns, ...), result, expected, ok, peak_rss (bytes, the
  largest of the probe and its workers up to that repeat), setup_ns, teardown_ns, warmup (repeats run
  before the timed ones), cpus_granted (how many CPUs the probe was pinned to), cpus ("0,1"),
  peak_rss_children, probe_wall_ns, canary_ns (runner.canary on the probe's CPUs), slowdown (how much
  slower than its best the machine ran during the visit, from the canary; empty when not measured), started,
  foreign_ns (others' CPU time on the granted CPUs during the repeat; runner.neighbours), first (the cell ran
  first in its pair), ref_wall_ns, ref_cpu_ns, ref_foreign_ns (the paired sequential reference of the same
  repeat; empty for sequential itself and for unpaired, version-1 runs), cpu_bound, superlinear (the
  workload's word on the physical checks), quiet_wait_s, contaminated (per visit).
A cell that produced no timed repeat (TIMEOUT, CRASHED, UNAVAILABLE, an ERROR in setup) keeps one row, with
its status and error and no times, so that nothing measured silently disappears.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from parbench.results.schema import Record, Sample

CELL_COLUMNS = ("run_id", "key", "workload", "strategy", "family", "workers", "start_method", "python", "gil",
                "python_version", "free_threaded", "gil_start", "gil_end")
INT_COLUMNS = ("workers", "repeat", "wall_ns", "cpu_ns", "result", "expected", "peak_rss", "setup_ns",
               "teardown_ns", "warmup", "cpus_granted", "peak_rss_children", "probe_wall_ns", "visit", "canary_ns",
               "foreign_ns", "ref_wall_ns", "ref_cpu_ns", "ref_foreign_ns", "contaminated")
# What a paired repeat adds from its reference sample (runner.measure.Reference), by column.
_REFERENCE = {"ref_wall_ns": "wall_ns", "ref_cpu_ns": "cpu_ns", "ref_foreign_ns": "foreign_ns"}


def _cell_part(run_id: str, record: Record) -> dict[str, Any]:
    cell = record.cell
    row: dict[str, Any] = {"run_id": run_id, "key": cell.key(), "workload": cell.workload,
                           "strategy": cell.strategy, "family": record.family, "workers": cell.workers,
                           "start_method": cell.start_method, "python": cell.python, "gil": cell.gil}
    facts = record.interpreter or {}
    row.update({"python_version": facts.get("version"), "free_threaded": facts.get("free_threaded"),
                "gil_start": facts.get("gil_start"), "gil_end": facts.get("gil_end")})
    row.update(cell.params)
    row.update({f"option_{k}": v for k, v in cell.options.items()})
    return row


def _record_part(record: Record) -> dict[str, Any]:
    return {"status": record.status, "error": record.error, "expected": record.expected,
            "setup_ns": record.setup_ns, "teardown_ns": record.teardown_ns, "warmup": record.warmup,
            "cpus_granted": len(record.cpus) or None, "cpus": ",".join(map(str, record.cpus)) or None,
            "peak_rss_children": record.peak_rss_children, "probe_wall_ns": record.probe_wall_ns,
            "started": record.started, "visit": record.visit, "slowdown": record.slowdown,
            "canary_ns": record.canary_ns, "cpu_bound": record.cpu_bound, "superlinear": record.superlinear,
            "quiet_wait_s": record.quiet_wait_s, "contaminated": record.contaminated}


def _sample_part(sample: Sample | None, record: Record, reference: Sample | None) -> dict[str, Any]:
    if sample is None:
        return {"repeat": None, "wall_ns": None, "cpu_ns": None, "result": None, "ok": None,
                "peak_rss": record.peak_rss}
    row: dict[str, Any] = {"repeat": sample.index, "wall_ns": sample.wall_ns, "cpu_ns": sample.cpu_ns,
                           "result": sample.result, "ok": sample.ok,
                           "peak_rss": sample.peak_rss if sample.peak_rss is not None else record.peak_rss,
                           "foreign_ns": sample.foreign_ns, "first": sample.first}
    row.update({f"phase_{name}_ns": ns for name, ns in sample.phases.items() if name})
    row.update({column: getattr(reference, field) if reference else None for column, field in _REFERENCE.items()})
    return row


def rows(run_id: str, records: Sequence[Record]) -> list[dict[str, Any]]:
    found = []
    for record in records:
        head = {**_cell_part(run_id, record), **_record_part(record)}
        samples: list[Sample | None] = [*record.timed] or [None]
        references = {s.index: s for s in record.timed_reference}
        for sample in samples:
            reference = references.get(sample.index) if sample else None
            found.append({**head, **_sample_part(sample, record, reference)})
    return found


def _order(columns: Sequence[str], params: Sequence[str]) -> list[str]:
    options = sorted(c for c in columns if c.startswith("option_"))
    phases = sorted(c for c in columns if c.startswith("phase_"))
    middle = ["status", "error", "visit", "repeat", "wall_ns", "cpu_ns", *phases, "result", "expected", "ok",
              "peak_rss", "setup_ns", "teardown_ns", "warmup", "cpus_granted", "cpus", "peak_rss_children",
              "probe_wall_ns", "canary_ns", "slowdown", "started", "foreign_ns", "first", *_REFERENCE,
              "cpu_bound", "superlinear", "quiet_wait_s", "contaminated"]
    known = [*CELL_COLUMNS, *params, *options, *middle]
    return known + [c for c in columns if c not in known]  # a column added later is kept, never dropped


def frame(run_id: str, records: Sequence[Record]) -> pd.DataFrame:
    """The tidy DataFrame of `records` (see the module docstring for the columns)."""
    params = list(dict.fromkeys(k for r in records for k in r.cell.params))
    df = pd.DataFrame(rows(run_id, records))
    columns = _order(list(df.columns), params)
    df = df.reindex(columns=columns)
    # A function workload's results may be floats, lists or reprs (parbench.workloads.function): kept as they are.
    answers = [v for r in records for v in (r.expected, *(s.result for s in r.samples))]
    plain = [] if all(v is None or isinstance(v, int) for v in answers) else ["result", "expected"]
    for column in (*INT_COLUMNS, *(c for c in columns if c.startswith("phase_"))):
        if column in plain:
            continue
        df[column] = _as_int(df[column])
    df["ok"] = df["ok"].astype("boolean")
    return df


def _as_int(column: pd.Series) -> pd.Series:
    """Nullable int64; a plugin's result beyond int64 stays as Python ints (object) rather than rounding."""
    try:
        return pd.to_numeric(column).astype("Int64")
    except (OverflowError, TypeError, ValueError):
        return column
