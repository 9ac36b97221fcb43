"""Everything a report shows, computed once from a run; html.py and markdown.py only lay it out.

Data flows one way: the run (records, meta.json) -> summary and analysis -> this model -> HTML or Markdown.
The only thing asked of the rest of parbench is how many bytes a workload point touches (for GB/s), and a
workload that cannot be loaded here simply gets no throughput figure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from parbench.analysis import DEFAULT_ALPHA, DEFAULT_FACTOR
from parbench.analysis.compare import Comparison, compare_runs
from parbench.analysis.phases import phase_medians
from parbench.analysis.physics import SUSPECT
from parbench.analysis.scaling import annotate, crossovers, fits
from parbench.analysis.stats import summarize
from parbench.analysis.trust import Trust, assess
from parbench.analysis.verdicts import Evidence, Verdict, verdicts
from parbench.results.reader import OpenedRun
from parbench.results.schema import FAILED, SLOW_MACHINE, Cell
from parbench.units import fmt_duration


@dataclass(frozen=True)
class Notice:
    """One warning: what kind, about which cell (or the run), and the detail."""

    kind: str
    subject: str
    detail: str


@dataclass(frozen=True)
class Variant:
    """One workload variant (its parameters but size): its rows of the annotated summary and its verdict."""

    key: str
    rows: pd.DataFrame
    verdict: Verdict

    @property
    def title(self) -> str:
        return self.verdict.title


@dataclass(frozen=True)
class Workload:
    name: str
    variants: tuple[Variant, ...]


@dataclass(frozen=True)
class Report:
    """A run, analysed: what both report formats are made of."""

    run: OpenedRun
    summary: pd.DataFrame  # parbench.analysis.scaling.annotate(summarize(run))
    phases: pd.DataFrame  # parbench.analysis.phases.phase_medians, indexed by key
    fits: pd.DataFrame
    crossovers: pd.DataFrame
    bytes_touched: Mapping[str, int]  # point -> bytes
    workloads: tuple[Workload, ...]
    notices: tuple[Notice, ...]
    trust: Trust
    comparison: Comparison | None = None

    @property
    def calibration(self) -> Mapping[str, Any]:
        return self.run.meta.calibration

    def machine_line(self) -> str:
        """CPU, usable CPUs, Python and GIL, commit: the one line that says what the numbers were measured on."""
        env = self.run.meta.environment
        cpu, python, git = env.get("cpu") or {}, env.get("python") or {}, env.get("git") or {}
        commit = (git.get("commit") or "?")[:10] + ("+dirty" if git.get("dirty") else "")
        return (f"{cpu.get('model', '?')}, {len(cpu.get('affinity') or []) or '?'} usable CPU(s); "
                f"Python {python.get('version', '?')} (GIL {'on' if python.get('gil_enabled', True) else 'off'}); "
                f"commit {commit}")

    def status_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.summary["status"].value_counts().sort_index().items()}


def bytes_per_point(points: Sequence[str]) -> dict[str, int]:
    """point -> bytes its workload touches, for the workloads that say (bytes_touched() > 0)."""
    from parbench.registry import make_workload

    found = {}
    for point in set(points):
        workload, params = json.loads(point)
        try:
            touched = int(make_workload(workload, params).bytes_touched())
        except Exception:  # a plugin workload missing here, or parameters it no longer takes: no GB/s, no more
            continue
        if touched > 0:
            found[point] = touched
    return found


def _wrong_detail(frame: pd.DataFrame, key: str) -> str:
    rows = frame[frame["key"] == key]
    wrong = rows[rows["ok"] == False]  # noqa: E712 - a nullable boolean column
    if wrong.empty:
        return "a warmup result was wrong"
    return (f"{len(wrong)} of {len(rows)} results wrong, e.g. {wrong['result'].iloc[0]} "
            f"(expected {wrong['expected'].iloc[0]})")


def failure_notices(summary: pd.DataFrame, frame: pd.DataFrame) -> list[Notice]:
    """Every cell that is not OK, with its reason: excluded from speedups, never hidden."""
    found = []
    for _, row in summary[summary["status"] != "OK"].iterrows():
        label = Cell.from_dict(json.loads(row["key"])).label()
        error = row["error"] if isinstance(row["error"], str) and row["error"] else None
        if row["status"] == SUSPECT:
            error = f"left out of every verdict, table and fit: {row['suspect']}"
        detail = error or (_wrong_detail(frame, row["key"]) if row["status"] == "WRONG" else "no reason recorded")
        found.append(Notice(str(row["status"]), label, detail))
    order = {s: i for i, s in enumerate((*FAILED, SUSPECT, "UNAVAILABLE"))}
    return sorted(found, key=lambda n: order.get(n.kind, 9))


def run_notices(run: OpenedRun) -> list[Notice]:
    """The run as a whole: planned cells never measured (interrupted), the plan's notes, no calibration."""
    meta = run.meta
    found = [Notice("note", "plan", note) for note in meta.plan.notes]
    planned = {Cell.from_dict(c["cell"]).key() for c in meta.plan.cells}
    missing = planned - set(run.frame["key"])
    if missing:
        found.append(Notice("missing", "run", f"{len(missing)} of {len(planned)} planned cells have no record "
                            f"(interrupted? finish it with parbench sweep --resume {run.run_id})"))
    if run.torn:
        found.append(Notice("torn record", "run", "the last line of records.jsonl was cut mid-write (the sweep was "
                            f"killed while writing it): that record is left out; parbench sweep --resume {run.run_id} "
                            "measures its cell again"))
    if not meta.calibration:
        found.append(Notice("note", "run", "no calibration in meta.json: overheads are not explained"))
    return found


def quality_notices(summary: pd.DataFrame) -> list[Notice]:
    """Cells timed only while the machine ran slow, noisy cells (CV > 10%) and timer-dominated ones (median
    under 1 ms), worst first."""
    ok = summary[summary["status"] == "OK"]
    found = _slow_machine_notices(ok)
    noisy = ok[ok["noisy"].fillna(False).astype(bool)].sort_values("cv", ascending=False)
    found += [Notice("noisy", _label(r), f"CV {r['cv']:.0%} over {int(r['n'])} repeats") for _, r in noisy.iterrows()]
    tiny = ok[ok["timer_dominated"].fillna(False).astype(bool)]
    found += [Notice("sub-ms", _label(r), f"median {fmt_duration(r['median_ns'])}: timer and scheduling noise weigh")
              for _, r in tiny.iterrows()]
    return found


def _slow_machine_notices(ok: pd.DataFrame) -> list[Notice]:
    """Cells with no visit at the machine's own speed (runner.canary): their times are partly the machine's."""
    if "slowdown" not in ok.columns:
        return []
    slow = ok[pd.to_numeric(ok["slowdown"], errors="coerce") > SLOW_MACHINE].sort_values("slowdown", ascending=False)
    return [Notice("slow machine", _label(r), f"every visit ran while the machine was {r['slowdown']:.2f}x slower "
                   "than its best: read its times with that in mind") for _, r in slow.iterrows()]


def _label(row: pd.Series) -> str:
    return Cell.from_dict(json.loads(row["key"])).label()


def _workloads(summary: pd.DataFrame, evidence: Evidence) -> tuple[Workload, ...]:
    by_variant = {v.variant: v for v in verdicts(evidence)}
    groups: dict[str, list[Variant]] = {}
    for variant, rows in summary.groupby("variant", sort=True):
        groups.setdefault(str(rows["workload"].iloc[0]), []).append(Variant(str(variant), rows, by_variant[variant]))
    return tuple(Workload(name, tuple(variants)) for name, variants in sorted(groups.items()))


def build(run: OpenedRun, baseline: OpenedRun | None = None, factor: float = DEFAULT_FACTOR,
          alpha: float = DEFAULT_ALPHA) -> Report:
    """Analyse `run` (and compare it with `baseline` when given)."""
    summary = annotate(summarize(run.frame))
    phases = phase_medians(run.frame).set_index("key")
    fitted, crossed = fits(summary), crossovers(summary)
    touched = bytes_per_point(list(summary["point"]))
    evidence = Evidence(summary, phases, run.meta.calibration, touched, fitted, crossed)
    notices = failure_notices(summary, run.frame) + run_notices(run) + quality_notices(summary)
    comparison = compare_runs(baseline.frame, run.frame, factor, alpha) if baseline is not None else None
    return Report(run, summary, phases, fitted, crossed, touched, _workloads(summary, evidence), tuple(notices),
                  assess(summary, run.frame), comparison)


