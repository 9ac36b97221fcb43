"""The Python API: measure one cell (`run`), sweep (`sweep`), open a finished run (`open_run`) and look at it
(`Run`). Notebooks, scripts and the benches use these; they go through the same library layer as the CLI
(runner.lifecycle), so a run made here is a run folder like any other, and bad input raises the UserError
subclass (parbench.errors) whose message the CLI would print.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parbench.errors import BadSpec, CannotRunHere
from parbench.results.meta import RunMeta
from parbench.results.schema import Record

if TYPE_CHECKING:
    import pandas as pd

    from parbench.analysis.verdicts import Verdict
    from parbench.report.model import Report
    from parbench.runner.spec import SweepSpec
    from parbench.workloads.function import FunctionWorkload

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Measured(Record):
    """The record of a cell measured by `run`: every field of a Record, and the record as a frame."""

    def to_frame(self) -> pd.DataFrame:
        """One row per timed repeat, with the columns of parbench.load (parbench.results.tidy)."""
        from parbench.results.tidy import frame

        return frame("", [self])


def run(workload: Any, strategy: str, *, workers: int | None = None, start_method: str | None = None,
        repeat: int = 5, warmup: int = 1, options: Mapping[str, Any] | None = None, **params: Any) -> Measured:
    """Measure one cell in this process, as `parbench run` does: every repeat checked against the exact answer,
    each paired with a run of `sequential`. `workers` defaults to 1 for sequential, else the usable CPUs."""
    from parbench.cpus import usable_cpus
    from parbench.runner.cells import make_cell
    from parbench.runner.measure import measure

    name = workload_name(workload)
    if workers is None:
        workers = 1 if strategy == "sequential" else len(usable_cpus())
    if repeat < 1 or warmup < 0:
        raise BadSpec(f"repeat must be at least 1 and warmup at least 0, got {repeat} and {warmup}")
    cell = make_cell(name, params, strategy, workers, start_method, dict(options or {}))
    record = measure(cell, repeat, warmup)
    if record.status == "UNAVAILABLE":
        raise CannotRunHere(f"{cell.strategy} cannot run here: {record.error}")
    return Measured(**{f.name: getattr(record, f.name) for f in fields(Record)})


def workload_name(workload: Any) -> str:
    """A workload's registered name: a name as given, or a workload object made known to the registry (and to
    the probes a sweep starts) under its name."""
    if isinstance(workload, str):
        return workload
    from parbench.registry import register_workload

    return register_workload(workload)


def sweep(*, preset: str | None = None, config: PathLike | None = None, workloads: Sequence[Any] | None = None,
          strategies: Sequence[str] | None = None, workers: Sequence[int] | str | None = None,
          sizes: Sequence[Any] | Mapping[str, Sequence[Any]] | None = None, rounds: int | None = None,
          results: PathLike = "results", run_id: str | None = None, progress: bool = True, **more: Any) -> Run:
    """Plan, measure and analyse a sweep, as `parbench sweep` does, and return the finished Run (its
    report.html written). `preset`, then `config` (a TOML file), then these arguments; `more` takes any other
    sweep key (repeat, warmup, timeout, seed, isolation, start_methods, quiet_wait, kernels, delay, params,
    options; pythons, gil and envs: the interpreter axis, README "Beyond the GIL"). Ctrl-C keeps the finished
    cells: `resume(path)` completes the run."""
    from parbench.runner import lifecycle

    spec = _spec(preset, config, workloads, strategies, workers, sizes, rounds, more)
    pending = lifecycle.start(lifecycle.plan_run(spec, Path(results), run_id))
    return _measured(pending, progress)


def resume(path: PathLike, *, progress: bool = True) -> Run:
    """Measure what an interrupted run is missing (its own spec), then analyse it."""
    from parbench.results.store import RunStore
    from parbench.runner import lifecycle

    folder = Path(path)
    return _measured(lifecycle.resume(RunStore.existing(folder.parent, folder.name)), progress)


def _measured(pending: Any, progress: bool) -> Run:
    """Measure the pending visits (a progress bar on stderr when `progress`), then analyse the run once."""
    from parbench.runner import lifecycle

    if progress:
        from rich.console import Console

        from parbench.runner.display import SweepDisplay

        SweepDisplay(Console(stderr=True), Console(stderr=True)).measure(pending)
    else:
        from parbench.runner.progress import QuietProgress

        lifecycle.measure(pending, QuietProgress())
    done = lifecycle.conclude(pending.store.path)
    return Run(pending.store.path, done.report)


SPEC_KEYS = ("repeat", "warmup", "timeout", "seed", "isolation", "quiet_wait", "start_methods", "params", "options",
             "pythons", "gil", "envs")
PARAM_KEYS = {"sizes": "size", "kernels": "kernel", "delay": "delay"}


def _spec(preset: str | None, config: PathLike | None, workloads: Sequence[Any] | None,
          strategies: Sequence[str] | None, workers: Sequence[int] | str | None,
          sizes: Any, rounds: int | None, more: Mapping[str, Any]) -> SweepSpec:
    """The arguments as the CLI's layers: preset, TOML file, then these (each checked as its flag is)."""
    from parbench.runner.spec import build_spec

    unknown = sorted(set(more) - {*SPEC_KEYS, *PARAM_KEYS})
    if unknown:
        raise BadSpec(f"sweep() got unknown argument(s) {', '.join(unknown)}")
    values: dict[str, object] = {key.replace("_", "-"): _listed(more.get(key)) for key in SPEC_KEYS}
    values.update({"workloads": _listed([workload_name(w) for w in workloads] if workloads else None),
                   "strategies": _listed(strategies), "workers": _listed(workers), "rounds": rounds})
    return build_spec(preset, Path(config) if config is not None else None, values,
                      _param_flags({"sizes": sizes, **more}))


def _listed(value: Any) -> Any:
    """A list as the comma-separated text its flag takes; anything else as it is."""
    if isinstance(value, list | tuple | range):
        return ",".join(str(v) for v in value)
    return value


def _param_flags(given: Mapping[str, Any]) -> list[Any]:
    """`sizes=[...]` for every workload, or `sizes={"array-sum": [...]}` per workload (likewise kernels, delay)."""
    from parbench.runner.spec import ParamFlag

    flags = []
    for key, name in PARAM_KEYS.items():
        value = given.get(key)
        if value is None:
            continue
        per_workload = value.items() if isinstance(value, Mapping) else [(None, value)]
        for workload, values in per_workload:
            texts = [str(v) for v in (values if isinstance(values, list | tuple | range) else [values])]
            flags.append(ParamFlag(f"{key}=", name, tuple(texts), workload))
    return flags


def function_workload(fn: Callable[[Any], Any], inputs: Iterable[Any], *,
                      combine: Callable[[Iterable[Any]], Any] = sum, name: str | None = None,
                      rtol: float | None = None, chunksize: int | None = None) -> FunctionWorkload:
    """A plain function as a workload: `fn(x)` for every input, one task per input (or per `chunksize` inputs),
    the partials combined with `combine` (default: sum). The exact answer is the sequential result, computed
    here once; results of any picklable type match it with ==, or within `rtol` (math.isclose for numbers,
    numpy.allclose for arrays). The function travels to probes and workers with cloudpickle, so one defined in
    a notebook cell or a script's __main__ runs under fork, spawn and forkserver; anything that cannot be
    shipped is a UserError saying so. Pass it to `run(...)` or `sweep(workloads=[...])`. Details:
    parbench.workloads.function."""
    from parbench.workloads.function import function_workload as make

    return make(fn, inputs, combine=combine, name=name, rtol=rtol, chunksize=chunksize)


def load(path: PathLike) -> pd.DataFrame:
    """A run folder (or its records.jsonl) as a tidy DataFrame: one row per timed repeat.

    Columns: run_id, key (the cell's identity), workload, strategy, family, workers, start_method; the
    workload parameters by name (size, kernel, fill, delay, ...); the strategy options as option_<name>;
    status, error, visit (which of the cell's rounds), repeat, wall_ns, cpu_ns (user+sys of the probe and
    all its descendants), phase_<name>_ns (spawn, scatter, compute, gather), result, expected, ok,
    peak_rss, setup_ns, teardown_ns, warmup, cpus_granted, cpus, peak_rss_children, probe_wall_ns,
    canary_ns and slowdown (how fast the machine ran during the visit), started; the paired reference's
    ref_wall_ns and the contamination columns. A cell without timed repeats (TIMEOUT, CRASHED, UNAVAILABLE)
    keeps one row with its status and no times. Details: parbench.results.tidy.
    """
    from parbench.results.store import load as load_run

    return load_run(path)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of a load()ed run: the cell columns, status (SUSPECT when a physical check fails, with
    the reason in `suspect`), n, median_ns, iqr_ns, cv, bootstrap CIs, speedup (paired with sequential, with
    speedup_low/high), self_speedup, efficiency, utilisation and more; see parbench.analysis.stats."""
    from parbench.analysis.stats import summarize as summarize_run

    return summarize_run(df)


def open_run(path: PathLike) -> Run:
    """A finished (or interrupted) run folder, its records.jsonl or its meta.json."""
    from parbench.results.reader import open_run as open_folder

    return Run(open_folder(Path(path)).path)


class Run:
    """A run folder, analysed on demand: `.meta`, `.frame` (one row per timed repeat), `.summary` (one row per
    cell, with paired speedups and the physical checks), `.verdicts`, `.report()`, `.compare()`; shown in a
    notebook as its winners, speedup table and one figure."""

    def __init__(self, path: PathLike, analysed: Report | None = None) -> None:
        self.path = Path(path)
        if analysed is not None:
            self.__dict__["analysis"] = analysed  # what the sweep already built: not analysed twice

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @functools.cached_property
    def opened(self) -> Any:
        from parbench.results.reader import open_run as open_folder

        return open_folder(self.path)

    @property
    def meta(self) -> RunMeta:
        return self.analysis.run.meta if "analysis" in self.__dict__ else self.opened.meta

    @property
    def frame(self) -> pd.DataFrame:
        return self.analysis.run.frame

    @functools.cached_property
    def analysis(self) -> Report:
        from parbench.report.model import build

        return build(self.opened)

    @property
    def summary(self) -> pd.DataFrame:
        return self.analysis.summary

    @property
    def verdicts(self) -> list[Verdict]:
        return [v.verdict for w in self.analysis.workloads for v in w.variants]

    def report(self, path: PathLike | None = None, format: str = "html") -> Path:
        """Write the report (html: RUN/report.html by default; md: RUN/report.md) and return where it went."""
        from parbench.report.output import FORMATS, check_writable, renderer, write_atomically

        if format not in FORMATS:
            raise BadSpec(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        target = Path(path) if path is not None else self.path / f"report.{format}"
        check_writable(target)
        write_atomically(target, renderer(format)(self.analysis))
        return target

    def compare(self, other: Run | PathLike, *, raw: bool = False) -> pd.DataFrame:
        """This run (the new one) against `other` (the baseline), cell by cell, as `parbench compare` judges
        them: paired ratios by default, raw wall times with raw=True. One row per cell."""
        import pandas as pd

        from parbench.analysis.compare import compare_runs

        base = other if isinstance(other, Run) else open_run(other)
        comparison = compare_runs(base.frame, self.frame, paired=not raw)
        return pd.DataFrame([asdict(change) for change in comparison.cells])

    def _repr_html_(self) -> str:
        from parbench.report.notebook import notebook_html

        return notebook_html(self.analysis)
