"""A run's metadata (meta.json): who made the run, with what spec and plan, on which machine, and how it went.

One frozen dataclass with one `to_dict` / `from_dict` and one schema check. The spec and the planned cells are
kept as the plain mappings the runner wrote (runner.spec / runner.plan read them back): this layer stores them
and must not know the runner. meta.json carries the records' SCHEMA_VERSION (see results.schema's history);
its own fields only ever grew with defaults, so every readable version reads here as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from parbench.results.schema import READABLE_VERSIONS, SCHEMA_VERSION


class MetaError(ValueError):
    """meta.json is not one this parbench can read: the message says why."""


@dataclass(frozen=True)
class Plan:
    """What the sweep planned: every visit (a PlannedCell as a mapping), the planner's notes, the estimate."""

    cells: tuple[Mapping[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    estimate_s: float | None = None


@dataclass(frozen=True)
class Part:
    """A resumed part of a run: when, by which command, how many visits it had to do, and how it went."""

    at: str
    command: tuple[str, ...] = ()
    cells: int = 0
    elapsed_s: float | None = None
    remeasured_visits: int | None = None  # visits measured again because the machine ran slow or shared


@dataclass(frozen=True)
class RunMeta:
    """meta.json. `elapsed_s` and `remeasured_visits` are the first part's; each resume has its own Part."""

    run_id: str = ""
    created: str = ""
    parbench: str = ""
    command: tuple[str, ...] = ()
    spec: Mapping[str, Any] = field(default_factory=dict)
    plan: Plan = Plan()
    environment: Mapping[str, Any] = field(default_factory=dict)
    calibration: Mapping[str, Any] = field(default_factory=dict)
    resumes: tuple[Part, ...] = ()
    finished: str | None = None
    elapsed_s: float | None = None
    remeasured_visits: int | None = None
    schema_version: int = SCHEMA_VERSION

    def resumed(self, at: str, command: Sequence[str], cells: int) -> RunMeta:
        return replace(self, resumes=(*self.resumes, Part(at, tuple(command), cells)))

    def ended(self, at: str, elapsed_s: float, remeasured: int) -> RunMeta:
        """The run as it stands after its last part ended at `at` (a resume's figures go on its own Part)."""
        elapsed = round(elapsed_s, 3)
        if not self.resumes:
            return replace(self, finished=at, elapsed_s=elapsed, remeasured_visits=remeasured)
        last = replace(self.resumes[-1], elapsed_s=elapsed, remeasured_visits=remeasured)
        return replace(self, finished=at, resumes=(*self.resumes[:-1], last))

    @property
    def total_elapsed_s(self) -> float | None:
        """Measuring time of every part together (None when no part has ended)."""
        parts = [self.elapsed_s, *(p.elapsed_s for p in self.resumes)]
        known = [p for p in parts if p is not None]
        return sum(known) if known else None

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": self.schema_version, "run_id": self.run_id, "created": self.created,
                "parbench": self.parbench, "command": list(self.command), "spec": dict(self.spec),
                "plan": {"cells": [dict(c) for c in self.plan.cells], "notes": list(self.plan.notes),
                         "estimate_s": self.plan.estimate_s},
                "environment": dict(self.environment), "calibration": dict(self.calibration),
                "resumes": [_part_dict(p) for p in self.resumes], "finished": self.finished,
                "elapsed_s": self.elapsed_s, "remeasured_visits": self.remeasured_visits}

    @classmethod
    def from_dict(cls, raw: object) -> RunMeta:
        """meta.json's content, checked: a MetaError names the first thing that is not as written."""
        if not isinstance(raw, Mapping):
            raise MetaError("not a parbench meta.json (not a JSON object)")
        version = raw.get("schema_version")
        if version not in READABLE_VERSIONS:
            raise MetaError(f"schema_version {version!r}; this parbench reads {READABLE_VERSIONS}")
        try:
            return cls(run_id=_text(raw, "run_id"), created=_text(raw, "created"), parbench=_text(raw, "parbench"),
                       command=tuple(map(str, raw.get("command") or ())), spec=_mapping(raw, "spec"),
                       plan=_plan(_mapping(raw, "plan")), environment=_mapping(raw, "environment"),
                       calibration=_mapping(raw, "calibration"),
                       resumes=tuple(_part(p) for p in raw.get("resumes") or ()), finished=raw.get("finished"),
                       elapsed_s=raw.get("elapsed_s"), remeasured_visits=raw.get("remeasured_visits"),
                       schema_version=int(version))
        except (TypeError, ValueError, KeyError) as exc:
            raise MetaError(f"not a usable parbench meta.json ({exc})") from None


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MetaError(f"{key} is {type(value).__name__}, not text")
    return value


def _mapping(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MetaError(f"{key} is {type(value).__name__}, not an object")
    return dict(value)


def _plan(raw: Mapping[str, Any]) -> Plan:
    cells = raw.get("cells") or ()
    if not all(isinstance(c, Mapping) for c in cells):
        raise MetaError("plan.cells holds something that is not a planned cell")
    return Plan(tuple(dict(c) for c in cells), tuple(map(str, raw.get("notes") or ())), raw.get("estimate_s"))


def _part(raw: Mapping[str, Any]) -> Part:
    return Part(str(raw["at"]), tuple(map(str, raw.get("command") or ())), int(raw.get("cells") or 0),
                raw.get("elapsed_s"), raw.get("remeasured_visits"))


def _part_dict(part: Part) -> dict[str, Any]:
    return {"at": part.at, "command": list(part.command), "cells": part.cells, "elapsed_s": part.elapsed_s,
            "remeasured_visits": part.remeasured_visits}
