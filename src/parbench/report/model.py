"""Everything a report shows, computed once from a run; html.py and markdown.py only lay it out.

Data flows one way: the run (records, meta.json) -> summary and analysis -> this model -> HTML or Markdown.
The only thing asked of the rest of parbench is how many bytes a workload point touches (for GB/s), and a
workload that cannot be loaded here simply gets no throughput figure. Every read of meta.json happens in this
module (calibration, environment, plan, machine line): the layout modules never see its raw form.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from parbench.analysis import DEFAULT_ALPHA, DEFAULT_FACTOR
from parbench.analysis.compare import Comparison, compare_runs
from parbench.analysis.interpreters import GilStory, gil_story
from parbench.analysis.phases import phase_medians
from parbench.analysis.physics import SUSPECT
from parbench.analysis.scaling import SIZE, Leader, annotate, crossovers, fits, largest_point, leader, size_text
from parbench.analysis.stats import summarize
from parbench.analysis.trust import Trust, assess
from parbench.analysis.verdicts import Evidence, Verdict, verdicts
from parbench.results.meta import RunMeta
from parbench.results.reader import OpenedRun
from parbench.results.schema import FAILED, SLOW_MACHINE, Cell
from parbench.units import fmt_bytes, fmt_duration


@dataclass(frozen=True)
class Notice:
    """One warning: what kind, about which cell (or the run), and the detail."""

    kind: str
    subject: str
    detail: str


@dataclass(frozen=True)
class Headline:
    """The headline card of one variant: who wins at its largest size (parbench.analysis.scaling.leader, the
    rule the terminal's best-strategy table follows), with the numbers that make it and one line why."""

    kind: str  # "parallel" (a clear winner), "sequential", "tie" (none clearly) or "none" (no trusted cell)
    winner: str  # Leader.name(): 'process-pipe x2', 'sequential', 'none clearly', 'none'
    shown: pd.Series | None  # the cell whose speedup the card prints: the winner, or sequential's closest rival
    rival: pd.Series | None  # the strategy it ties with (kind "tie")
    size: str  # the size it is decided at ('' for a workload without one)
    why: str

    @classmethod
    def of(cls, rows: pd.DataFrame, why: str) -> Headline:
        at = largest_point(rows)
        found: Leader = leader(at)
        kind = ("sequential" if found.sequential else "none" if found.best is None
                else "parallel" if found.clear else "tie")
        size = size_text(at[SIZE].iloc[0]) if SIZE in at and len(at) and pd.notna(at[SIZE].iloc[0]) else ""
        return cls(kind, found.name(), found.shown(), found.runner_up if kind == "tie" else None, size, why)


@dataclass(frozen=True)
class Variant:
    """One workload variant (its parameters but size): its rows of the annotated summary, its verdict and its
    headline."""

    key: str
    rows: pd.DataFrame
    verdict: Verdict
    headline: Headline

    @property
    def title(self) -> str:
        return self.verdict.title


@dataclass(frozen=True)
class Workload:
    """Everything the report shows about one workload. Each analysis of a workload as a whole (as opposed to
    one variant) is one more field here, and one more block in parbench.report.html.BLOCKS."""

    name: str
    variants: tuple[Variant, ...]
    extras: Mapping[str, Any] = field(default_factory=dict)  # per-workload findings of later analyses, by name


@dataclass(frozen=True)
class FlaggedCell:
    """One cell with every warning about it: what the report counts (cells, not warnings)."""

    subject: str
    kinds: tuple[str, ...]
    details: tuple[str, ...]


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
    gil_story: tuple[GilStory, ...] = ()  # strategies x interpreters, when the run has several (analysis.interpreters)

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

    def flagged_cells(self) -> tuple[FlaggedCell, ...]:
        """The notices about cells, one entry per cell (its kinds and reasons in order), most serious first."""
        return flag_cells(n for n in self.notices if n.subject in self.cell_labels())

    def run_notices(self) -> tuple[Notice, ...]:
        """The notices about the run as a whole (the plan, missing cells, calibration), not about one cell."""
        return tuple(n for n in self.notices if n.subject not in self.cell_labels())

    def cell_labels(self) -> set[str]:
        return set(self.summary["key"].map(lambda key: Cell.from_dict(json.loads(key)).label()))

    def environment(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """The environment block: groups of (name, value), formatted for a reader."""
        return list(environment(self.run.meta, self.calibration))


def flag_cells(notices: Iterator[Notice] | Sequence[Notice]) -> tuple[FlaggedCell, ...]:
    """Notices grouped by cell, in the order each cell is first named."""
    grouped: dict[str, list[Notice]] = {}
    for notice in notices:
        grouped.setdefault(notice.subject, []).append(notice)
    return tuple(FlaggedCell(subject, tuple(dict.fromkeys(n.kind for n in found)), tuple(n.detail for n in found))
                 for subject, found in grouped.items())


def bytes_per_point(points: Sequence[str]) -> dict[str, int]:
    """point -> bytes its workload touches, for the workloads that say (bytes_touched() > 0)."""
    from parbench.registry import make_workload

    found = {}
    for point in set(points):
        workload, params, *_ = json.loads(point)  # and the interpreter, when the run has that axis
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
    return [Notice("slow machine", _label(r), f"every visit ran with the machine {r['slowdown']:.2f}x slower than "
                   "its best") for _, r in slow.iterrows()]


def _label(row: pd.Series) -> str:
    return Cell.from_dict(json.loads(row["key"])).label()


def _workloads(summary: pd.DataFrame, evidence: Evidence) -> tuple[Workload, ...]:
    by_variant = {v.variant: v for v in verdicts(evidence)}
    groups: dict[str, list[Variant]] = {}
    for variant, rows in summary.groupby("variant", sort=True):
        found = by_variant[variant]
        groups.setdefault(str(rows["workload"].iloc[0]), []).append(
            Variant(str(variant), rows, found, Headline.of(rows, found.why)))
    return tuple(Workload(name, tuple(variants)) for name, variants in sorted(groups.items()))


def _cpus(cpus: Any) -> str:
    """[0, 1, 2, 3, 6] -> '0-3, 6 (5 CPUs)'."""
    if not isinstance(cpus, list) or not cpus:
        return "-"
    runs: list[list[int]] = []
    for cpu in sorted(int(c) for c in cpus):
        if runs and cpu == runs[-1][-1] + 1:
            runs[-1].append(cpu)
        else:
            runs.append([cpu])
    text = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
    return f"{text} ({len(cpus)} CPU{'s' if len(cpus) > 1 else ''})"


def _load(load: Any) -> str:
    """[4.7099609375, 3.2, 2.1] -> '4.71, 3.20, 2.10 (1, 5, 15 min)'."""
    if not isinstance(load, list | tuple) or not load:
        return "-"
    return ", ".join(f"{float(x):.2f}" for x in load) + " (1, 5, 15 min)"


def _frequency(frequency: Any) -> str:
    current = (frequency or {}).get("current") if isinstance(frequency, dict) else None
    return f"{float(current) / 1000:.2f} GHz" if current else "-"


def environment(meta: RunMeta, calibration: Mapping[str, Any]) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """Groups of (name, value) from meta.json, every value formatted (units, ranges, two decimals)."""
    env: Mapping[str, Any] = meta.environment
    cpu, memory, python = env.get("cpu") or {}, env.get("memory") or {}, env.get("python") or {}
    shm = memory.get("shm") or {}
    yield "Machine", [("host", str(env.get("hostname", "-"))), ("CPU", str(cpu.get("model", "-"))),
                      ("cores", f"{cpu.get('logical', '-')} logical, {cpu.get('physical', '-')} physical"),
                      ("usable CPUs", _cpus(cpu.get("affinity"))), ("clock", _frequency(cpu.get("frequency_mhz"))),
                      ("governor", str(cpu.get("governor") or "-")),
                      ("memory", fmt_bytes(memory["total"]) if memory.get("total") else "-"),
                      ("/dev/shm", fmt_bytes(shm["total"]) if shm.get("total") else "-"),
                      ("load average", _load(env.get("load_average"))), ("OS", str(env.get("os", "-")))]
    gil = "enabled" if python.get("gil_enabled", True) else "disabled"
    yield "Python", [("version", f"{python.get('implementation', '')} {python.get('version', '-')}"),
                     ("build", " ".join(map(str, python.get("build") or []))), ("GIL", gil),
                     ("free-threading build", "yes" if python.get("free_threading_build") else "no")]
    yield "Software", [(k, str(v or "not installed")) for k, v in (env.get("packages") or {}).items()]
    yield "Run", list(_run_facts(meta))
    yield "Calibration", list(calibration_facts(calibration))


def _run_facts(meta: RunMeta) -> Iterator[tuple[str, str]]:
    git = meta.environment.get("git") or {}
    commit = git.get("commit") or "-"
    yield "commit", f"{commit[:12]}{' (uncommitted changes)' if git.get('dirty') else ''}"
    yield "created", (meta.created or "-").replace("T", " ")
    yield "finished", (meta.finished or "not finished").replace("T", " ")
    if meta.total_elapsed_s is not None:
        yield "elapsed", f"{meta.total_elapsed_s:.1f} s"
    spec = meta.spec
    yield "spec", ", ".join(f"{k} {spec[k]}" for k in ("repeat", "warmup", "rounds", "isolation", "seed", "timeout")
                            if k in spec)
    yield "command", _command(meta.command)


def _command(argv: Sequence[str]) -> str:
    """sys.argv as a user would type it: '.../parbench/__main__.py sweep ...' -> 'parbench sweep ...'."""
    if argv and argv[0].rsplit("/", 1)[-1] in ("__main__.py", "parbench"):
        return " ".join(["parbench", *argv[1:]])
    return " ".join(argv)


def calibration_facts(calibration: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The calibrated primitives, in words and units."""
    bandwidth = calibration.get("memory_bandwidth_bytes_per_s")
    if bandwidth:
        yield "memory bandwidth (numpy sum, one core)", f"{bandwidth / 1e9:.2f} GB/s"
    if calibration.get("python_loop_ns_per_item"):
        yield "python loop", f"{calibration['python_loop_ns_per_item']:.3g} ns per element"
    for method, ns in (calibration.get("process_start_ns") or {}).items():
        yield f"process start + join ({method})", fmt_duration(ns)
    if calibration.get("pipe_round_trip_ns"):
        yield "Pipe round trip (8 bytes)", fmt_duration(calibration["pipe_round_trip_ns"])
    if calibration.get("pipe_bytes_per_s"):
        yield "Pipe throughput (1 MiB messages)", f"{calibration['pipe_bytes_per_s'] / 1e9:.2f} GB/s"
    if calibration.get("sleep_overshoot_ns") is not None:
        yield "sleep(1 ms) overshoot", fmt_duration(calibration["sleep_overshoot_ns"])


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
    running = (run.meta.environment.get("python") or {}).get("version")
    story = gil_story(summary, running, run.meta.calibration, run.frame)
    return Report(run, summary, phases, fitted, crossed, touched, _workloads(summary, evidence), tuple(notices),
                  assess(summary, run.frame), comparison, story)


