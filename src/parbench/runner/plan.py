"""From a SweepSpec to the cells to measure, in the order to measure them.

Every (workload, parameters) point gets its sequential baseline at one worker, whether or not the spec
names `sequential`: speedups need it. The order is shuffled with the spec's seed so that slow drift of
the machine (heat, other tenants) spreads over every strategy instead of biasing the ones measured last.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, get_args

from parbench import registry
from parbench.errors import BadSpec
from parbench.families import Family
from parbench.params import did_you_mean
from parbench.results.schema import Cell
from parbench.runner.cells import make_cell
from parbench.runner.spec import SweepSpec

FAMILIES: tuple[str, ...] = get_args(Family)
FAMILY_PREFIX = "family:"
BASELINE = "sequential"


@dataclass(frozen=True)
class PlannedCell:
    """A cell to measure, with its strategy's family and, when it cannot run here, why."""

    cell: Cell
    family: str
    unavailable: str | None = None
    visit: int = 0  # which of the cell's rounds

    def to_dict(self) -> dict[str, Any]:
        return {"cell": self.cell.to_dict(), "family": self.family, "unavailable": self.unavailable,
                "visit": self.visit}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PlannedCell:
        return cls(Cell.from_dict(raw["cell"]), raw["family"], raw.get("unavailable"), int(raw.get("visit", 0)))

    def label(self) -> str:
        return self.cell.label() + (f" (visit {self.visit + 1})" if self.visit else "")

    def visit_key(self) -> tuple[str, int]:
        """What resume matches on: the cell and which of its visits."""
        return self.cell.key(), self.visit


@dataclass(frozen=True)
class Plan:
    """The cells in run order, and notes on what was left out or cannot run."""

    cells: tuple[PlannedCell, ...]
    notes: tuple[str, ...]


def _family_members(family: str) -> list[str]:
    return [name for name, entry in registry.strategies().items()
            if entry.obj is not None and entry.obj.family == family and not entry.obj.by_name_only]


def select_strategies(selectors: tuple[str, ...], lenient: bool) -> tuple[list[str], list[str]]:
    """Names and families -> registered strategy names (deduplicated, in order), and notes on skipped ones.

    `lenient` (the names come from a preset): a name that is not registered or is broken is skipped with
    a note; otherwise it is a UserError, since the user asked for it. A strategy's own name wins over a
    family of the same name (`threads` is the strategy; `family:threads` the family, thread-pool included).
    """
    entries = registry.strategies()
    names: list[str] = []
    notes: list[str] = []
    for selector in selectors:
        family = selector.removeprefix(FAMILY_PREFIX)
        if family in FAMILIES and (selector.startswith(FAMILY_PREFIX) or selector not in entries):
            names.extend(_family_members(family))
            continue
        entry = entries.get(selector)
        if entry is not None and entry.obj is not None:
            names.append(selector)
            continue
        problem = (f"broken: {entry.error}" if entry is not None
                   else "not registered here (not installed, or not merged yet)")
        if not lenient:
            hint = "" if entry is not None else did_you_mean(selector, [*entries, *FAMILIES])
            raise BadSpec(f"strategy {selector!r} is {problem}{hint}; `parbench list` shows them all")
        notes.append(f"skipped {selector}: {problem}")
    return list(dict.fromkeys(names)), notes


def _cells_for(spec: SweepSpec, workload: str, params: dict[str, Any], name: str) -> Iterator[Cell]:
    cls = registry.get_strategy(name)
    methods: tuple[str | None, ...] = spec.start_methods if cls.uses_start_method else (None,)
    for workers in spec.workers:
        if cls.max_workers is not None and workers > cls.max_workers:
            continue  # sequential runs at one worker only; its baseline cell covers it
        for method in methods:
            yield make_cell(workload, params, name, workers, method, spec.options.get(name))


def interpreter_axis(spec: SweepSpec) -> list[tuple[str | None, str | None]]:
    """(python, gil) per variant of every cell: the running interpreter alone when the spec names none; the `gil`
    settings only on free-threaded builds (a GIL build has no PYTHON_GIL to set)."""
    from parbench.runner.environments import resolve

    if not spec.pythons:
        return [(None, None)]
    axis: list[tuple[str | None, str | None]] = []
    for python in spec.pythons:
        axis += [(python, gil) for gil in gil_variants(resolve(python).free_threaded, spec.gil)]
    return axis


def gil_variants(free_threaded: bool, asked: tuple[str, ...]) -> tuple[str | None, ...]:
    """The `gil` settings an interpreter is measured under: each asked one on a free-threaded build; on a GIL build
    none (PYTHON_GIL=0 is a fatal error there), nor when none is asked (the build's own default)."""
    return asked if free_threaded and asked else (None,)


def _availability(cell: Cell, cache: dict[tuple[str, str | None], str | None]) -> str | None:
    if cell.python is not None:
        return None  # asked under its own interpreter, in the probe: the record then carries the facts too
    key = (cell.strategy, cell.start_method)
    if key not in cache:
        try:
            cache[key] = registry.get_strategy(cell.strategy).available(cell.start_method)
        except Exception as exc:  # a plugin's available() must not stop the sweep
            cache[key] = f"available() raised {type(exc).__name__}: {exc}"
    return cache[key]


def make_plan(spec: SweepSpec) -> Plan:
    """Expand the spec into cells (baselines included), one visit per round, each round shuffled on its own
    with the spec's seed."""
    names, notes = select_strategies(spec.strategies, spec.lenient)
    if not names:
        raise BadSpec("no strategy left to measure: " + ("; ".join(notes) or "the selection is empty"))
    cells: dict[str, Cell] = {}
    axis = interpreter_axis(spec)
    for workload in spec.workloads:
        for params in spec.points(workload):
            for cell in (make_cell(workload, params, BASELINE, 1),
                         *(c for n in names for c in _cells_for(spec, workload, params, n))):
                for python, gil in axis:
                    variant = replace(cell, python=python, gil=gil)
                    cells.setdefault(variant.key(), variant)
    cache: dict[tuple[str, str | None], str | None] = {}
    planned = [PlannedCell(c, registry.get_strategy(c.strategy).family, _availability(c, cache))
               for c in cells.values()]
    notes += [f"{name} ({method or 'no start method'}) cannot run here, recorded as UNAVAILABLE: {reason}"
              for (name, method), reason in cache.items() if reason]
    shuffle = random.Random(spec.seed).shuffle
    visits: list[PlannedCell] = []
    for visit in range(spec.rounds):
        round_ = [replace(p, visit=visit) for p in planned]
        shuffle(round_)
        visits += round_
    return Plan(tuple(visits), tuple(notes))


def describe_visits(visits: Sequence[PlannedCell], rounds: int) -> str:
    """'92 cells' or, with rounds, '92 cells x 2 rounds = 184 visits' (a visit is one probe)."""
    cells = len({v.cell.key() for v in visits})
    return f"{cells} cells" if rounds == 1 else f"{cells} cells x {rounds} rounds = {len(visits)} visits"
