"""What a sweep measures: presets, a TOML file and flags, merged in that order into one frozen SweepSpec.

Every source is a *layer* with the shape of the TOML file (keys below), checked as it is read so that an
error names where the bad value came from (`sweep.toml: params.array-sum.size: ...`, `--sizes: ...`).
Later layers replace earlier ones key by key; `params` and `options` merge per workload / strategy and
per parameter. Flags that set workload parameters (`--sizes`, `--kernels`, `--delay`, `--param`) apply to
every selected workload that takes the parameter, or to one workload with `--sizes array-sum=1e6,1e7`.

    preset = "quick"                            # the base layer (default: "default")
    workloads = ["array-sum", "delayed-square"]
    strategies = ["sequential", "threads", "processes"]    # names or families
    workers = "1..max"                          # or [1, 2, 4]
    start-methods = ["default"]                 # fork, spawn, forkserver; default: the platform's
    repeat = 5                                  # timed repeats per visit
    warmup = 1                                  # untimed (but checked) repeats per visit
    rounds = 2                                  # visits per cell, spread over the run (one probe each)
    timeout = 300                               # seconds per cell
    isolation = "fork"                          # fork: probes forked from a server; exec: a new interpreter each
    quiet-wait = 10                             # seconds to wait, before each visit, for its CPUs to go idle
    seed = 42                                   # shuffles the cell order; random when absent
    pythons = ["3.11", "3.13", "/opt/py/bin/python3.14t"]   # versions or paths, or "found": every 3.11+ found here
    gil = ["on", "off"]                         # free-threaded builds only: PYTHON_GIL=1 / 0 for the probe
    envs = "~/.cache/parbench/envs"             # where each interpreter's environment is built (runner.environments)
    [params.array-sum]
    size = [1e5, 1e6]
    kernel = ["python", "numpy"]
    [options.pool-map]
    chunksize = 1
"""

from __future__ import annotations

import itertools
import random
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parbench import registry
from parbench.cpus import usable_cpus
from parbench.errors import BadSpec, UserError
from parbench.params import did_you_mean, parse_float, parse_int, resolve
from parbench.runner.cells import check_start_method, check_workers, default_start_method
from parbench.runner.presets import PRESETS

Layer = dict[str, Any]
MAX_REPEAT = 10_000
MAX_ROUNDS = 100
MAX_TIMEOUT_S = 86_400.0
ISOLATIONS = ("fork", "exec")  # how a probe starts: forked from a probe server, or a new interpreter


@dataclass(frozen=True)
class ParamFlag:
    """A flag that sets one workload parameter: for `workload` only, or every workload taking `name`."""

    source: str
    name: str
    values: tuple[str, ...]
    workload: str | None = None

    @classmethod
    def parse(cls, source: str, name: str, text: str) -> ParamFlag:
        """`[WORKLOAD=]V,V,...` as given to `source` (e.g. `--sizes array-sum=1e6,1e7`)."""
        workload, sep, values = text.rpartition("=")
        return cls(source, name, tuple(values.split(",")), workload.strip() if sep else None)


@dataclass(frozen=True)
class SweepSpec:
    """A resolved sweep: what to measure (grids, strategies, workers, start methods) and how."""

    preset: str
    workloads: Mapping[str, Mapping[str, tuple[Any, ...]]]  # workload -> parameter -> values
    strategies: tuple[str, ...]  # names or families, as asked
    workers: tuple[int, ...]
    start_methods: tuple[str, ...]
    options: Mapping[str, Mapping[str, Any]]  # strategy -> option -> value
    repeat: int
    warmup: int
    timeout: float
    seed: int
    lenient: bool  # strategy names came from a preset: skip unregistered ones with a note
    isolation: str = "fork"
    # Visits per cell, each in its own probe, the rounds shuffled apart: a burst of load on the machine then
    # lands on one visit's repeats, not on all of a cell's, and the cell's median shrugs it off.
    rounds: int = 1
    # Before each visit, wait up to this many seconds until its CPUs are idle (runner.neighbours); 0: never.
    quiet_wait: float = 0.0
    pythons: tuple[str, ...] = ()  # interpreters as asked (runner.environments); empty: the running one alone
    gil: tuple[str, ...] = ()  # on free-threaded interpreters: PYTHON_GIL settings to measure (empty: as built)
    envs: str | None = None  # the environments folder (None: runner.environments.default_root())

    def points(self, workload: str) -> list[dict[str, Any]]:
        """Every parameter combination of `workload`, in grid order."""
        grid = self.workloads[workload]
        return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset,
                "workloads": {w: {k: list(v) for k, v in g.items()} for w, g in self.workloads.items()},
                "strategies": list(self.strategies), "workers": list(self.workers),
                "start_methods": list(self.start_methods), "options": {s: dict(o) for s, o in self.options.items()},
                "repeat": self.repeat, "warmup": self.warmup, "timeout": self.timeout, "seed": self.seed,
                "lenient": self.lenient, "isolation": self.isolation, "rounds": self.rounds,
                "quiet_wait": self.quiet_wait, "pythons": list(self.pythons), "gil": list(self.gil), "envs": self.envs}


# --- reading one value -------------------------------------------------------------------------------------

def _names(value: object, where: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise BadSpec(f"{where}: expected a list of names or a comma-separated string, got {value!r}")
    names = tuple(i.strip() for i in items if i.strip())
    if not names:
        raise BadSpec(f"{where}: is empty")
    return names


def _values(value: object) -> list[object]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return list(value) if isinstance(value, list | tuple) else [value]


def parse_workers(value: object, where: str) -> tuple[int, ...]:
    """`[1, 2, 4]`, `"1,2,4"` or `"1..max"` (powers of two from 1 up to the usable CPUs, and that count)."""
    if isinstance(value, str) and ".." in value:
        lo_text, _, hi_text = value.partition("..")
        top = len(usable_cpus())
        lo = top if lo_text.strip() == "max" else parse_int(lo_text, where)
        hi = top if hi_text.strip() == "max" else parse_int(hi_text, where)
        if lo > hi:
            raise BadSpec(f"{where}: empty range {value!r}")
        found = [w for w in (2**i for i in range(hi.bit_length())) if lo <= w <= hi]
        workers = sorted({*found, lo, hi})
    else:
        items = _values(value)
        workers = sorted({len(usable_cpus()) if i == "max" else parse_int(i, where) for i in items})
    if not workers:
        raise BadSpec(f"{where}: is empty")
    for w in workers:
        _prefixed(where, check_workers, w)
    return tuple(workers)


def _start_methods(value: object, where: str) -> tuple[str, ...]:
    methods = [default_start_method() if m == "default" else m for m in _names(value, where)]
    for m in methods:
        _prefixed(where, check_start_method, m)
    return tuple(dict.fromkeys(methods))


def _bounded_int(lo: int, hi: int) -> Callable[[object, str], int]:
    def check(value: object, where: str) -> int:
        number = parse_int(value, where)
        if not lo <= number <= hi:
            raise BadSpec(f"{where}: must be between {lo} and {hi}, got {number}")
        return number
    return check


def _timeout(value: object, where: str) -> float:
    seconds = parse_float(value, where)
    if not 0 < seconds <= MAX_TIMEOUT_S:
        raise BadSpec(f"{where}: must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds, got {seconds:g}")
    return seconds


def _quiet_wait(value: object, where: str) -> float:
    seconds = parse_float(value, where)
    if not 0 <= seconds <= MAX_TIMEOUT_S:
        raise BadSpec(f"{where}: must be between 0 and {MAX_TIMEOUT_S:g} seconds, got {seconds:g}")
    return seconds


def _preset_name(value: object, where: str) -> str:
    if value not in PRESETS:
        raise BadSpec(f"{where}: unknown preset {value!r}; choose from {', '.join(PRESETS)}"
                        + did_you_mean(str(value), PRESETS))
    return str(value)


def _isolation(value: object, where: str) -> str:
    if value not in ISOLATIONS:
        raise BadSpec(f"{where}: expected one of {', '.join(ISOLATIONS)}, got {value!r}")
    return str(value)


def _pythons(value: object, where: str) -> tuple[str, ...]:
    """Each interpreter must be found here now (a one-line refusal lists what was found)."""
    from parbench.runner.environments import FOUND, resolve, supported

    names = tuple(dict.fromkeys(n for name in _names(value, where) for n in (supported() if name == FOUND else [name])))
    for name in names:
        resolve(name, where)
    return names


def _gil(value: object, where: str) -> tuple[str, ...]:
    from parbench.results.interpreter import GIL_SETTINGS

    settings = tuple(dict.fromkeys(_names(value, where)))
    for setting in settings:
        if setting not in GIL_SETTINGS:
            raise UserError(f"{where}: expected on or off, got {setting!r}")
    return settings


def _envs(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: expected a folder, got {value!r}")
    return str(Path(value).expanduser())


def _prefixed(where: str, check: Callable[..., Any], *args: Any) -> Any:
    """Run a check whose UserError does not say where the value came from, and say it."""
    try:
        return check(*args)
    except UserError as exc:
        raise BadSpec(f"{where}: {exc}") from None


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadSpec(f"{where}: expected a table, got {value!r}")
    return value


def _params(value: object, where: str) -> dict[str, dict[str, tuple[Any, ...]]]:
    """{workload: {parameter: value or list}} -> validated, canonical tuples of values."""
    checked: dict[str, dict[str, tuple[Any, ...]]] = {}
    for workload, grid in _table(value, where).items():
        cls = _prefixed(where, registry.get_workload, workload)
        known = {p.name: p for p in cls.parameters}
        checked[workload] = {}
        for name, raw in _table(grid, f"{where}.{workload}").items():
            if name not in known:
                raise BadSpec(f"{where}.{workload}: unknown key {name!r} (it takes: {', '.join(known)})"
                                + did_you_mean(name, known))
            checked[workload][name] = _param_values(known[name], raw, f"{where}.{workload}")
    return checked


def _param_values(param: Any, raw: object, owner: str) -> tuple[Any, ...]:
    # Param.parse says "<owner>: <name>: what is wrong": the owner carries where the value came from.
    values = tuple(dict.fromkeys(param.parse(v, owner) for v in _values(raw)))
    if not values:
        raise BadSpec(f"{owner}: {param.name}: is empty")
    return values


def _options(value: object, where: str) -> dict[str, dict[str, Any]]:
    checked: dict[str, dict[str, Any]] = {}
    for strategy, opts in _table(value, where).items():
        cls = _prefixed(where, registry.get_strategy, strategy)
        given = _table(opts, f"{where}.{strategy}")
        resolved = _prefixed(f"{where}.{strategy}", resolve, cls.options, given, strategy)
        checked[strategy] = {k: resolved[k] for k in given}
    return checked


KEYS: dict[str, Callable[[object, str], Any]] = {
    "preset": _preset_name,
    "workloads": _names,
    "strategies": _names,
    "workers": parse_workers,
    "start-methods": _start_methods,
    "repeat": _bounded_int(1, MAX_REPEAT),
    "warmup": _bounded_int(0, MAX_REPEAT),
    "rounds": _bounded_int(1, MAX_ROUNDS),
    "timeout": _timeout,
    "isolation": _isolation,
    "quiet-wait": _quiet_wait,
    "seed": _bounded_int(0, 2**63 - 1),
    "pythons": _pythons,
    "gil": _gil,
    "envs": _envs,
    "params": _params,
    "options": _options,
}

# What each key means, said once for the TOML file and for `parbench sweep`'s flags (named alike: --quiet-wait);
# the metavar when the flag takes something other than a comma-separated list.
KEY_HELP: dict[str, tuple[str, str | None]] = {
    "workloads": ("comma-separated workload names", None),
    "strategies": ("comma-separated strategy names or families: processes, distributed, family:threads (threads "
                   "alone is the strategy)", None),
    "workers": ("1,2,4 or 1..max (powers of two up to the usable CPUs, and that count)", None),
    "start-methods": ("fork, spawn, forkserver or default; comma-separated", None),
    "pythons": ("interpreters, comma-separated: versions (3.11, 3.13, 3.13t: found on PATH, under pyenv or uv) or "
                "paths (default: the running one); see README: Beyond the GIL", None),
    "gil": ("on free-threaded builds: on, off or on,off (PYTHON_GIL=1/0 for the probe)", None),
    "repeat": ("timed repeats per visit of a cell", None),
    "warmup": ("untimed (but checked) repeats before them, per visit", None),
    "rounds": ("visits per cell, each in its own probe, spread over the run (so a burst of load on the machine "
               "lands on one visit, not on every repeat)", None),
    "timeout": ("seconds a cell may take before its probe is killed (TIMEOUT)", "SECONDS"),
    "quiet-wait": ("before each visit, wait up to SECONDS until its CPUs are idle (other tenants' load under 10%%); "
                   "the wait is recorded per visit (default: 0, never wait)", "SECONDS"),
    "seed": ("seed of the shuffled cell order (default: random, recorded)", None),
    "isolation": (f"{' or '.join(ISOLATIONS)}: each probe forked from a probe server with parbench loaded "
                  "(default), or a new interpreter per cell (slower; a new memory layout each time)", None),
    "envs": ("where each interpreter's environment is built and reused (default: ~/.cache/parbench/envs)", "DIR"),
}

# --- layers --------------------------------------------------------------------------------------------------

def check_layer(raw: Mapping[str, object], source: str) -> Layer:
    """Validate every key of one layer; errors say `source: key: ...`."""
    layer: Layer = {}
    for key, value in raw.items():
        if key not in KEYS:
            raise BadSpec(f"{source}: unknown key {key!r} (known: {', '.join(KEYS)})" + did_you_mean(key, KEYS))
        layer[key] = KEYS[key](value, f"{source}: {key}")
    return layer


def toml_layer(path: Path) -> Layer:
    """Read and validate a sweep TOML file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadSpec(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise BadSpec(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadSpec(f"{path}: malformed TOML: {exc}") from None
    return check_layer(raw, str(path))


def merge(*layers: Layer) -> Layer:
    """Later layers win key by key; `params` and `options` merge one level deeper."""
    merged: Layer = {}
    for layer in layers:
        for key, value in layer.items():
            if key in ("params", "options"):
                table = {name: dict(inner) for name, inner in merged.get(key, {}).items()}
                for name, inner in value.items():
                    table.setdefault(name, {}).update(inner)
                merged[key] = table
            else:
                merged[key] = value
    return merged


# --- resolving -----------------------------------------------------------------------------------------------

def _grids(workloads: Sequence[str], params: Mapping[str, Mapping[str, tuple[Any, ...]]],
           flags: Sequence[ParamFlag]) -> dict[str, dict[str, tuple[Any, ...]]]:
    grids = {w: dict(params.get(w, {})) for w in workloads}
    for flag in flags:
        if flag.workload is not None and flag.workload not in grids:
            raise BadSpec(f"{flag.source}: workload {flag.workload!r} is not in this sweep "
                            f"(it has: {', '.join(workloads)})")
        targets = [flag.workload] if flag.workload else list(grids)
        hits = 0
        for w in targets:
            known = {p.name: p for p in registry.get_workload(w).parameters}
            if flag.name in known:
                grids[w][flag.name] = _param_values(known[flag.name], list(flag.values), f"{flag.source}: {w}")
                hits += 1
        if not hits:
            raise BadSpec(f"{flag.source}: no workload in this sweep takes {flag.name!r}")
    return grids


def resolve_spec(layer: Layer, flags: Sequence[ParamFlag] = (), lenient: bool = False) -> SweepSpec:
    """The merged layer (over a preset, which supplies every key) -> SweepSpec."""
    workloads = layer["workloads"]
    for w in workloads:
        registry.get_workload(w)
    seed = layer.get("seed")
    return SweepSpec(
        preset=layer["preset"],
        workloads=_grids(workloads, layer.get("params", {}), flags),
        strategies=tuple(layer["strategies"]),
        workers=tuple(layer["workers"]),
        start_methods=tuple(layer.get("start-methods") or (default_start_method(),)),
        options=layer.get("options", {}),
        repeat=layer["repeat"], warmup=layer["warmup"], timeout=layer["timeout"],
        seed=random.SystemRandom().randrange(2**31) if seed is None else seed,
        lenient=lenient,
        isolation=layer.get("isolation", "fork"),
        rounds=layer.get("rounds", 1),
        quiet_wait=layer.get("quiet-wait", 0.0),
        pythons=tuple(layer.get("pythons", ())),
        gil=tuple(layer.get("gil", ())),
        envs=layer.get("envs"),
    )


def flag_layer(values: Mapping[str, object]) -> Layer:
    """Flag values under their TOML keys (the flags are named alike): errors say `--workers: ...`."""
    return {key: KEYS[key](value, f"--{key}") for key, value in values.items() if value is not None}


def build_spec(preset: str | None, config: Path | None, flag_values: Mapping[str, object],
               flags: Sequence[ParamFlag] = ()) -> SweepSpec:
    """Preset, then TOML file, then flags (`flag_values` under TOML keys, None when not given)."""
    if preset is not None:
        _preset_name(preset, "--preset")
    file_layer = toml_layer(config) if config is not None else {}
    base = preset or file_layer.get("preset") or "default"
    user = merge(file_layer, flag_layer(flag_values))
    layer = merge(check_layer(PRESETS[base], f"preset {base}"), user, {"preset": base})
    return resolve_spec(layer, flags, lenient="strategies" not in user)


def spec_from_dict(raw: Mapping[str, Any]) -> SweepSpec:
    """The resolved spec stored in meta.json, back (for --resume)."""
    return SweepSpec(raw["preset"], {w: {k: tuple(v) for k, v in g.items()} for w, g in raw["workloads"].items()},
                     tuple(raw["strategies"]), tuple(raw["workers"]), tuple(raw["start_methods"]),
                     raw["options"], raw["repeat"], raw["warmup"], raw["timeout"], raw["seed"], raw["lenient"],
                     raw.get("isolation", "fork"), raw.get("rounds", 1), raw.get("quiet_wait", 0.0),
                     tuple(raw.get("pythons", ())), tuple(raw.get("gil", ())), raw.get("envs"))
