"""Which workloads and strategies exist: an explicit table of built-ins plus entry-point plugins.

Third parties declare `[project.entry-points."parbench.strategies"] name = "pkg.module:Class"` (and
likewise `parbench.workloads`). A plugin that fails to import is kept with its error, shown by
`parbench list`, and only fails the commands that ask for it by name.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from parbench.errors import BadValue, UnknownName
from parbench.params import did_you_mean
from parbench.strategies.base import BaseStrategy, Strategy
from parbench.workloads.base import Workload

T = TypeVar("T")

STRATEGY_GROUP = "parbench.strategies"
WORKLOAD_GROUP = "parbench.workloads"

BUILTIN_WORKLOADS: dict[str, str] = {
    "array-sum": "parbench.workloads.array_sum:ArraySum",
    "delayed-square": "parbench.workloads.delayed_square:DelayedSquare",
}

BUILTIN_STRATEGIES: dict[str, str] = {
    "sequential": "parbench.strategies.sequential:Sequential",
    "threads": "parbench.strategies.threads:Threads",
    "thread-pool": "parbench.strategies.threads:ThreadPool",
    "process-pipe": "parbench.strategies.pipe:ProcessPipe",
    "process-queue": "parbench.strategies.queues:ProcessQueue",
    "value-lock": "parbench.strategies.values:ValueLock",
    "value-nolock": "parbench.strategies.values:ValueNoLock",
    "manager": "parbench.strategies.manager:ManagerDict",
    "mp-array": "parbench.strategies.shared:MpArray",
    "shared-array": "parbench.strategies.shared:SharedArrayStrategy",
    "shared-memory": "parbench.strategies.shared:SharedMemoryStrategy",
    "pool-map": "parbench.strategies.pool:PoolMap",
    "process-pool-executor": "parbench.strategies.pool:ProcessPoolExecutorStrategy",
    "subinterpreters": "parbench.strategies.subinterpreters:Subinterpreters",
    "dispy": "parbench.strategies.dispy_cluster:DispyStrategy",
    "dask": "parbench.strategies.dask_cluster:DaskStrategy",
    "joblib": "parbench.strategies.joblib_loky:JoblibStrategy",
    "mpire": "parbench.strategies.mpire_pool:MpireStrategy",
    "ray": "parbench.strategies.ray_cluster:RayStrategy",
    "mpi": "parbench.strategies.mpi_ranks:MpiStrategy",
    "mpi-pickle": "parbench.strategies.mpi_ranks:MpiPickleStrategy",
}


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered name: where it comes from, and the loaded class or why it could not load."""

    name: str
    target: str
    origin: str
    obj: T | None = None
    error: str | None = None


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def _load(name: str, target: str, origin: str, loader: Callable[[], Any], check: Callable[[Any], str | None],
          ) -> Entry[Any]:
    try:
        obj = loader()
    except Exception as exc:  # a broken plugin must never break the CLI
        return Entry(name, target, origin, error=f"cannot load {target}: {type(exc).__name__}: {exc}")
    problem = check(obj)
    return Entry(name, target, origin, obj=None if problem else obj, error=problem)


def _members(protocol: type) -> list[str]:
    """The attributes and methods a protocol declares (its annotations and its public definitions)."""
    return sorted({*protocol.__annotations__, *(n for n in vars(protocol) if not n.startswith("_"))})


def _missing(obj: Any, protocol: type, kind: str) -> str | None:
    # Every member the CLI may use, not a few: a plugin class that passed a partial check would crash
    # `list` or a sweep's planning later with an AttributeError instead of being listed as broken.
    missing = [m for m in _members(protocol) if not hasattr(obj, m)]
    return f"not a {kind} (missing {', '.join(missing)})" if missing else None


def _check_strategy(obj: Any) -> str | None:
    # BaseStrategy's run() is a placeholder that raises NotImplementedError: inheriting it is lacking run.
    if isinstance(obj, type) and issubclass(obj, BaseStrategy) and obj.run is BaseStrategy.run:
        return "not a strategy (missing run: it inherits BaseStrategy's placeholder)"
    return _missing(obj, Strategy, "strategy")


def _check_workload(obj: Any) -> str | None:
    return _missing(obj, Workload, "workload")


def _collect(builtins: dict[str, str], group: str, check: Callable[[Any], str | None]) -> dict[str, Entry[Any]]:
    found = {name: _load(name, t, "built-in", functools.partial(_import, t), check) for name, t in builtins.items()}
    for ep in entry_points().select(group=group):
        origin = f"plugin {ep.dist.name if ep.dist else '?'}"
        if ep.name in found:
            found[f"{ep.name} ({origin})"] = Entry(ep.name, ep.value, origin,
                                                   error=f"name {ep.name!r} is already taken; plugin ignored")
            continue
        found[ep.name] = _load(ep.name, ep.value, origin, ep.load, check)
    return found


@functools.cache
def strategies() -> dict[str, Entry[type[Strategy]]]:
    return _collect(BUILTIN_STRATEGIES, STRATEGY_GROUP, _check_strategy)


@functools.cache
def workloads() -> dict[str, Entry[type[Workload]]]:
    return _collect(BUILTIN_WORKLOADS, WORKLOAD_GROUP, _check_workload)


def _get(entries: dict[str, Entry[T]], kind: str, name: str) -> T:
    entry = entries.get(name)
    if entry is None:
        raise UnknownName(f"unknown {kind} {name!r}{did_you_mean(name, entries)}; `parbench list` shows them all")
    if entry.obj is None:
        raise UnknownName(f"{kind} {name!r} is broken: {entry.error}")
    return entry.obj


@functools.cache
def _builtin(name: str, target: str, check: Callable[[Any], str | None]) -> Entry[Any]:
    return _load(name, target, "built-in", functools.partial(_import, target), check)


def get_strategy(name: str) -> type[Strategy]:
    # A built-in name always wins over plugins (see _collect), so it loads alone: a sweep's probe then
    # imports one strategy module, not all of them and every installed distribution's entry points.
    if name in BUILTIN_STRATEGIES:
        entry: Entry[type[Strategy]] = _builtin(name, BUILTIN_STRATEGIES[name], _check_strategy)
        return _get({name: entry}, "strategy", name)
    return _get(strategies(), "strategy", name)


def plugin_origin(strategy: str, workload: str) -> str | None:
    """'plugin strategy NAME (plugin DIST)' when a cell's strategy or workload comes from a plugin (or is a user's
    function), else None:
    what to blame when one of them fails in a way parbench's own never should."""
    if strategy not in BUILTIN_STRATEGIES:
        return f"plugin strategy {strategy!r} ({strategies()[strategy].origin})"
    if workload in _REGISTERED:
        return f"function workload {workload!r}"
    if workload not in BUILTIN_WORKLOADS:
        return f"plugin workload {workload!r} ({workloads()[workload].origin})"
    return None


# Workloads made at run time (parbench.function_workload), by name: resolvable in this process by name, and in
# probes and workers by the reference their cells' parameters carry (make_workload).
_REGISTERED: dict[str, type[Workload]] = {}


def register_workload(obj: object) -> str:
    """Make a workload object (parbench.function_workload(...)) resolvable by its name; returns the name. A name
    registered again (a notebook cell run again) takes the new definition."""
    from parbench.workloads.function import FunctionWorkload

    if not isinstance(obj, FunctionWorkload):
        raise BadValue(f"a workload object must come from parbench.function_workload(...), got {obj!r}; "
                        "a workload class is declared as a plugin (README: Plugins)")
    if obj.name in BUILTIN_WORKLOADS or obj.name in workloads():
        raise BadValue(f"function workload name {obj.name!r} is taken by a workload already: pass name=...")
    _REGISTERED[obj.name] = type(obj)
    return obj.name


def make_workload(name: str, params: Mapping[str, Any]) -> Workload:
    """The workload instance a cell means. A function workload's cells carry the hash of its definition, so a
    probe or a later `parbench report` that never saw it registered still builds it (and registers it)."""
    from parbench.workloads.function import FUNCTION_PARAM, function_class

    if name not in BUILTIN_WORKLOADS and name not in _REGISTERED and FUNCTION_PARAM in params:
        _REGISTERED[name] = function_class(name, str(params[FUNCTION_PARAM]))
    return get_workload(name).from_params(params)


def get_workload(name: str) -> type[Workload]:
    if name in _REGISTERED:
        return _REGISTERED[name]
    if name in BUILTIN_WORKLOADS:
        entry: Entry[type[Workload]] = _builtin(name, BUILTIN_WORKLOADS[name], _check_workload)
        return _get({name: entry}, "workload", name)
    return _get(workloads(), "workload", name)
