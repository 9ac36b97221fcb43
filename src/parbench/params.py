"""Declared parameters: what a workload or strategy accepts, parsed and validated with clear errors."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from parbench.errors import BadValue


def parse_int(text: object, what: str) -> int:
    """Parse `10_000_000`, `1e6` or `2**20` into an int; anything else is a UserError."""
    if isinstance(text, bool):
        raise BadValue(f"{what}: expected an integer, got {text!r}")
    if isinstance(text, int):
        return int(text)
    raw = str(text).strip().replace("_", "")
    if "**" in raw:
        base, _, exp = raw.partition("**")
        power = parse_int(exp, what)
        if not 0 <= power <= 64:
            raise BadValue(f"{what}: exponent must be between 0 and 64, got {text!r}")
        return int(parse_int(base, what) ** power)
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        raise BadValue(f"{what}: expected an integer like 1000, 10_000 or 1e6, got {text!r}") from None
    if not math.isfinite(value) or not value.is_integer():
        raise BadValue(f"{what}: expected a whole number, got {text!r}")
    return int(value)


def parse_float(text: object, what: str) -> float:
    """Parse a finite float; NaN and infinities are UserErrors."""
    try:
        value = float(str(text).strip().replace("_", ""))
    except ValueError:
        raise BadValue(f"{what}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise BadValue(f"{what}: expected a finite number, got {text!r}")
    return value


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean X?)' suffix when a close match exists, else ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass(frozen=True)
class Param:
    """One declared parameter: name, type, default, bounds and help."""

    name: str
    kind: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    # Any further check of a parsed value: returns what is wrong with it, or None.
    check: Callable[[Any], str | None] | None = None

    def parse(self, raw: object, owner: str) -> Any:
        what = f"{owner}: {self.name}"
        if self.kind is int:
            value: Any = parse_int(raw, what)
        elif self.kind is float:
            value = parse_float(raw, what)
        else:
            value = str(raw)
        self._check(value, what)
        return value

    def _check(self, value: Any, what: str) -> None:
        if self.choices and value not in self.choices:
            raise BadValue(f"{what}: {value!r} is not one of {', '.join(self.choices)}"
                            + did_you_mean(str(value), self.choices))
        if self.minimum is not None and value < self.minimum:
            raise BadValue(f"{what}: must be >= {self.minimum:g}, got {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise BadValue(f"{what}: must be <= {self.maximum:g}, got {value!r}")
        problem = self.check(value) if self.check is not None else None
        if problem:
            raise BadValue(f"{what}: {problem}")

    def describe(self) -> str:
        extra = f" one of {'|'.join(self.choices)}" if self.choices else ""
        return f"{self.name}={self.default!r}{extra}: {self.help}"


def resolve(params: tuple[Param, ...], raw: Mapping[str, object], owner: str) -> dict[str, Any]:
    """Parse `raw` against `params`: unknown names are errors, missing ones take their default."""
    known = {p.name: p for p in params}
    for name in raw:
        if name not in known:
            accepted = ", ".join(known) or "no parameters"
            raise BadValue(f"{owner} takes no parameter {name!r} (it accepts: {accepted})"
                            + did_you_mean(name, known))
    return {p.name: p.parse(raw[p.name], owner) if p.name in raw else p.default for p in params}
