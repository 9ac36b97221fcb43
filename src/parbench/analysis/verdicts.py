"""Plain-words verdicts per workload variant, derived from the measured numbers and the machine calibration.

Nothing here knows a strategy by name: what a strategy does is read from its family, its phases and its
CPU utilisation, and each explanation compares a measured time with a calibrated primitive (process start,
Pipe throughput, memory bandwidth, the python loop). Every figure in a sentence comes from the run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from parbench.analysis.scaling import SIZE, WIN_MARGIN, largest_point, leader, ok_rows, size_text, throughput
from parbench.results.schema import FAILED
from parbench.units import fmt_bytes, fmt_duration

GIL_SLACK = 1.3  # utilisation within 1.3/p and speedup under 1.3: one thread at a time
WAITING_UTILISATION = 0.3  # sequential using under 30% of a CPU: the work mostly sleeps or waits
MEMORY_BOUND = 0.4  # sequential throughput above 40% of the calibrated bandwidth
PHASE_SHARE = 0.2  # a phase worth explaining holds at least this share of the overhead
OVERHEAD_LINES = 3
NO_SERIAL_PART = 1e-3  # a fitted f below this is zero within any measurement's precision
EXTRA_CPU = 1.3  # a parallel cell burning 30% more CPU than sequential does extra work
PARALLEL_READS = 1.3  # workers together reading 30% more than one core: bandwidth was not the wall


@dataclass(frozen=True)
class Evidence:
    """What verdicts are drawn from: the annotated summary (parbench.analysis.scaling.annotate), phase
    medians by key, the run's calibration, bytes touched per point (when the workload says), and the fits."""

    summary: pd.DataFrame
    phases: pd.DataFrame
    calibration: Mapping[str, Any]
    bytes_touched: Mapping[str, int]
    fits: pd.DataFrame
    crossovers: pd.DataFrame


@dataclass(frozen=True)
class Verdict:
    """The story of one workload variant: its winner at the largest size and why the others lost."""

    workload: str
    variant: str
    title: str
    winner: str
    lines: tuple[str, ...]
    why: str = ""  # the one line (of `lines`) that explains the winner best: what a headline card quotes


def variant_title(variant: str) -> str:
    workload, params = json.loads(variant)
    return " ".join([workload, *(f"{k}={v}" for k, v in sorted(params.items()))])


def cell_name(row: pd.Series) -> str:
    return f"{row['label']} x{int(row['workers'])}"


def winner(rows: pd.DataFrame) -> tuple[str, str]:
    """(name, sentence) of the leader at the largest size (parbench.analysis.scaling.leader): the parallel cell
    clearly ahead of sequential and of every other strategy, sequential when nothing parallel clearly beats it,
    or "none clearly" when the fastest ties with another strategy."""
    at = largest_point(rows)
    found = leader(at)
    where = f"at size {size_text(at[SIZE].iloc[0])}" if SIZE in at and pd.notna(at[SIZE].iloc[0]) else "here"
    best, rival = found.best, found.runner_up
    if found.sequential:
        time = f" ({fmt_duration(best['median_ns'])})" if best is not None else ""
        closest = "" if rival is None else f"; the closest, {cell_name(rival)}, reaches {_speedup_text(rival)}"
        return "sequential", f"Winner {where}: sequential{time}: nothing parallel clearly beats it{closest}."
    if best is None:
        return "none", f"No trusted cell {where}: see the warnings."
    if not found.clear and rival is not None:
        return "none clearly", (f"Winner {where}: none clearly. {cell_name(best)} ({_speedup_text(best)}) and "
                                f"{cell_name(rival)} ({_speedup_text(rival)}) are within the noise or "
                                f"{WIN_MARGIN:.0%} of each other.")
    how = "paired with sequential in the same probe" if best.get("paired") else "unpaired: medians of two probes"
    return cell_name(best), (f"Winner {where}: {cell_name(best)}, {_speedup_text(best)} sequential ({how}; "
                             f"{fmt_duration(best['median_ns'])} vs {fmt_duration(best['baseline_ns'])}), "
                             f"efficiency {best['efficiency']:.0%}.")


def _speedup_text(row: pd.Series) -> str:
    """'1.93x (95% CI 1.88-1.97)'."""
    return f"{row['speedup']:.2f}x (95% CI {row['speedup_low']:.2f}-{row['speedup_high']:.2f})"


def crossover_line(crossovers: pd.DataFrame) -> str | None:
    """Which strategies beat sequential from which size on, and which never do (over the sizes measured)."""
    sizes = {s for by_size in crossovers["sizes"] for s in by_size}
    if len(sizes) < 2:  # one size: there is no crossover to speak of
        return None
    groups: dict[float, list[str]] = {}
    for _, row in crossovers.sort_values("label").iterrows():
        at = float("inf") if pd.isna(row["crossover"]) else float(row["crossover"])
        groups.setdefault(at, []).append(str(row["label"]))
    parts = [f"from {size_text(at)} on: {', '.join(names)}" if at != float("inf")
             else f"never (up to {size_text(max(sizes))}): {', '.join(names)}" for at, names in sorted(groups.items())]
    return "Beats sequential " + "; ".join(parts) + "."


def gil_line(at: pd.DataFrame) -> str | None:
    """Threads at p > 1: the GIL (one core's worth of CPU, no gain), released (scaling at full CPU), or
    waiting (scaling at little CPU)."""
    threads = ok_rows(at[(at["family"] == "threads") & (at["workers"] > 1)])
    if threads.empty:
        return None
    top = threads[threads["workers"] == threads["workers"].max()]
    p = int(top["workers"].iloc[0])
    util, gain = float(top["utilisation"].median()), float(top["speedup"].median())
    names = ", ".join(sorted(set(top["label"])))
    if util <= GIL_SLACK / p and gain < GIL_SLACK:
        return (f"{names} gain nothing at {p} workers ({gain:.2f}x): CPU utilisation {util:.0%}, one core's worth "
                f"of {p}. The GIL lets one thread run Python at a time.")
    if util < WAITING_UTILISATION and gain >= GIL_SLACK:
        return (f"{names} reach {gain:.2f}x at {p} workers using {util:.0%} CPU: the threads wait (sleep, I/O) "
                "with the GIL released, so threads are enough here.")
    if gain >= GIL_SLACK:
        return (f"{names} reach {gain:.2f}x at {p} workers, CPU utilisation {util:.0%}: the kernel releases the "
                "GIL, so threads run in parallel.")
    return None


def waiting_line(at: pd.DataFrame) -> str | None:
    seq = ok_rows(at[at["strategy"] == "sequential"])
    if seq.empty or not seq["utilisation"].iloc[0] < WAITING_UTILISATION:
        return None
    return (f"Sequential uses {seq['utilisation'].iloc[0]:.0%} of a CPU: the work mostly waits, so workers beyond "
            "the CPU count still help.")


def bandwidth_line(at: pd.DataFrame, bytes_: int | None, calibration: Mapping[str, Any]) -> str | None:
    """Memory-bound (sequential near the calibrated bandwidth) or compute-bound (far from it)."""
    seq = ok_rows(at[at["strategy"] == "sequential"])
    bandwidth = calibration.get("memory_bandwidth_bytes_per_s")
    if not bytes_ or seq.empty or not bandwidth:
        return None
    rate = throughput(bytes_, float(seq["median_ns"].iloc[0]))
    best = ok_rows(at)
    top = max(throughput(bytes_, float(m)) for m in best["median_ns"])
    head = (f"Sequential reads {rate / 1e9:.2f} GB/s, {rate / bandwidth:.0%} of the measured memory bandwidth "
            f"({bandwidth / 1e9:.1f} GB/s, one core); the fastest cell {top / 1e9:.2f} GB/s")
    if rate >= MEMORY_BOUND * bandwidth:
        if top >= PARALLEL_READS * rate:
            return head + (": memory-bound for one core, yet workers together read more: one core does not "
                           "saturate this machine's memory.")
        return head + ": memory-bound, workers share one memory bus and gain little."
    per_item = _per_item(seq, calibration)
    return head + f": compute-bound{per_item}; it needs CPUs running in parallel, not memory bandwidth."


def _per_item(seq: pd.DataFrame, calibration: Mapping[str, Any]) -> str:
    loop = calibration.get("python_loop_ns_per_item")
    if SIZE not in seq or not pd.notna(seq[SIZE].iloc[0]) or not seq[SIZE].iloc[0]:
        return ""
    each = float(seq["median_ns"].iloc[0]) / float(seq[SIZE].iloc[0])
    return f" ({each:.3g} ns per element" + (f"; the calibrated python loop: {loop:.3g} ns)" if loop else ")")


def overhead_lines(at: pd.DataFrame, evidence: Evidence, bytes_: int | None) -> Iterator[str]:
    """The parallel cells that lose most against the ideal T_seq / p, each explained by its phases."""
    cells = ok_rows(at[(at["strategy"] != "sequential") & (at["workers"] > 1)])
    if cells.empty:
        return
    cells = cells[cells["workers"] == cells["workers"].max()]
    ideal = cells["baseline_ns"] / cells["workers"]
    lost = (cells["median_ns"] - ideal).sort_values(ascending=False)
    for index in lost.index[:OVERHEAD_LINES]:
        row = cells.loc[index]
        overhead = float(lost[index])
        if not overhead > 0:
            break
        why = list(_reasons(row, overhead, float(ideal[index]), evidence, bytes_))
        yield (f"{cell_name(row)} takes {fmt_duration(row['median_ns'])} against an ideal {fmt_duration(ideal[index])} "
               f"(sequential / {int(row['workers'])}): {fmt_duration(overhead)} of overhead"
               + (": " + "; ".join(why) if why else "") + ".")


def _phase(evidence: Evidence, key: str, name: str) -> float:
    phases = evidence.phases
    if key not in phases.index or name not in phases.columns:
        return 0.0
    return float(phases.at[key, name])


def _reasons(row: pd.Series, overhead: float, ideal: float, evidence: Evidence, bytes_: int | None) -> Iterator[str]:
    """Phases holding a fair share of the overhead, each set against the calibrated primitive it is made of."""
    key, p = str(row["key"]), int(row["workers"])
    spawn = _phase(evidence, key, "spawn")
    if spawn >= PHASE_SHARE * overhead:
        yield _spawn_reason(spawn, p, row, evidence.calibration)
    scatter = _phase(evidence, key, "scatter")
    if scatter >= PHASE_SHARE * overhead:
        yield _scatter_reason(scatter, bytes_, evidence.calibration)
    gather = _phase(evidence, key, "gather")
    if gather >= PHASE_SHARE * overhead:
        yield f"gathering the results takes {fmt_duration(gather)}"
    compute = _phase(evidence, key, "compute")
    if compute - ideal >= PHASE_SHARE * overhead:
        yield f"compute takes {fmt_duration(compute)}, {compute / ideal:.1f}x the ideal, " + _cpu_reason(row)
    granted = row.get("cpus_granted")
    if pd.notna(granted) and int(granted) < p:
        yield f"{p} workers share {int(granted)} CPU(s)"


def _cpu_reason(row: pd.Series) -> str:
    """Extra CPU time means extra work (pickling, copies, locking); none means waiting (for CPUs, messages)."""
    seq_cpu, cpu = float(row["baseline_cpu_ns"]), float(row["cpu_median_ns"])
    if seq_cpu > 0 and cpu > EXTRA_CPU * seq_cpu:
        return (f"and the process tree burns {fmt_duration(cpu)} of CPU against sequential's {fmt_duration(seq_cpu)}: "
                "extra work (pickling, copies, shared updates, locking)")
    return ("with no more CPU than sequential: the workers wait (for a CPU, a lock or a message) rather than "
            "work")


def _spawn_reason(spawn: float, p: int, row: pd.Series, calibration: Mapping[str, Any]) -> str:
    if row["family"] == "threads":
        return f"starting {p} threads every run takes {fmt_duration(spawn)}"
    starts = calibration.get("process_start_ns") or {}
    method = row.get("start_method")
    each = starts.get(method) if isinstance(method, str) else None
    if each:
        return (f"starting {p} processes every run takes {fmt_duration(spawn)} (a process start+join measures "
                f"{fmt_duration(each)} with {method} here, {fmt_duration(p * each)} for {p})")
    return f"starting its workers every run takes {fmt_duration(spawn)}"


def _scatter_reason(scatter: float, bytes_: int | None, calibration: Mapping[str, Any]) -> str:
    pipe = calibration.get("pipe_bytes_per_s")
    if not bytes_:
        return f"shipping the input to the workers takes {fmt_duration(scatter)}"
    text = f"shipping {fmt_bytes(bytes_)} to the workers takes {fmt_duration(scatter)} ({bytes_ / scatter:.2f} GB/s"
    if pipe:
        text += f"; a Pipe moves {pipe / 1e9:.2f} GB/s here: {fmt_duration(bytes_ / pipe * 1e9)} for these bytes"
    return text + ")"


def setup_line(at: pd.DataFrame) -> str | None:
    """Strategies that pay most of their cost once, at setup: steady state flatters them, end to end not."""
    cells = ok_rows(at[at["strategy"] != "sequential"])
    heavy = cells[cells["setup_ns"] > cells["median_ns"]]
    if heavy.empty:
        return None
    heavy = heavy.sort_values("setup_ns", ascending=False).drop_duplicates("label")
    names = ", ".join(f"{r['label']} ({fmt_duration(r['setup_ns'])})" for _, r in heavy.head(4).iterrows())
    return (f"Setup costs more than a run for {names}: paid once per pool or cluster, it shows in the "
            "end-to-end time, not in the steady-state medians above.")


def amdahl_line(at: pd.DataFrame, fits: pd.DataFrame, name: str) -> str | None:
    """The winner's serial fraction from the Amdahl fit over every worker count measured."""
    row = leader(at).best
    if row is None or fits.empty or name in ("sequential", "none", "none clearly"):
        return None
    fit = fits[(fits["point"] == row["point"]) & (fits["series"] == row["series"])]
    if fit.empty or not pd.notna(fit["amdahl_f"].iloc[0]):
        return None
    if not bool(fit["meaningful"].iloc[0]):  # through 1 and p any curve fits: no f to speak of
        return None
    f, counts = float(fit["amdahl_f"].iloc[0]), int(fit["worker_counts"].iloc[0])
    ceiling = ("no serial part: ideal scaling so far" if f < NO_SERIAL_PART
               else f"at most {1 / f:.3g}x with any number of workers")
    return f"Amdahl fit for {name} over {counts} worker counts: serial fraction f = {f:.3f}, {ceiling}."


def _at_size(row: pd.Series) -> str:
    return f" at {size_text(row[SIZE])}" if SIZE in row and pd.notna(row[SIZE]) else ""


def failure_line(rows: pd.DataFrame) -> str | None:
    failed = rows[rows["status"].isin(FAILED)]
    if failed.empty:
        return None
    names = ", ".join(f"{cell_name(r)}{_at_size(r)} {r['status']}" for _, r in failed.head(6).iterrows())
    more = f" and {len(failed) - 6} more" if len(failed) > 6 else ""
    return f"Not counted (failed; see the warnings): {names}{more}."


def noise_line(rows: pd.DataFrame) -> str | None:
    noisy = rows[rows["noisy"].fillna(False).astype(bool)] if "noisy" in rows else rows.iloc[0:0]
    if noisy.empty:
        return None
    return (f"{len(noisy)} of {len(rows)} cells are noisy (CV > 10%, median CV {noisy['cv'].median():.0%}): "
            "read small differences with care.")


def verdict(rows: pd.DataFrame, evidence: Evidence) -> Verdict:
    """The verdict of one variant's rows (annotated summary)."""
    variant = str(rows["variant"].iloc[0])
    at = largest_point(rows)
    bytes_ = evidence.bytes_touched.get(str(at["point"].iloc[0]))
    name, head = winner(rows)
    crossovers = evidence.crossovers[evidence.crossovers["variant"] == variant]
    causes = [gil_line(at), waiting_line(at), bandwidth_line(at, bytes_, evidence.calibration)]
    overheads = list(overhead_lines(at, evidence, bytes_))
    lines = [head, crossover_line(crossovers), amdahl_line(at, evidence.fits, name), *causes, *overheads,
             setup_line(at), failure_line(rows), noise_line(rows)]
    # Why sequential won: the GIL, else what the parallel cells lost to; why a parallel one did: what it exploits.
    why = [*causes[:2], *overheads[:1]] if name == "sequential" else causes
    return Verdict(str(rows["workload"].iloc[0]), variant, variant_title(variant), name,
                   tuple(line for line in lines if line), next((line for line in why if line), ""))


def verdicts(evidence: Evidence) -> list[Verdict]:
    """One verdict per workload variant, in the order variants first appear."""
    summary = evidence.summary
    return [verdict(rows, evidence) for _, rows in summary.groupby("variant", sort=False)]
