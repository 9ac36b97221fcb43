"""What interpreter a cell ran under, and what its GIL did: facts recorded per record, and the decisions on them.

A free-threaded build (PEP 703, `python3.13t`) runs without the GIL unless told otherwise (`PYTHON_GIL=1`) or
until it imports an extension module that does not declare free-threading support: that import re-enables the
GIL for the rest of the process. So the build alone never says whether a cell ran without the GIL; the state at
the start and at the end of the cell (`sys._is_gil_enabled()`, 3.13+) does, and a report that says "no GIL" must
have both. These functions work on the recorded facts alone (a dict, as stored), so they are tested on facts
recorded anywhere, free-threaded build or not.
"""

from __future__ import annotations

import platform
import sys
import sysconfig
from collections.abc import Mapping
from typing import Any

GIL_SETTINGS = ("on", "off")  # the `gil` sub-axis: PYTHON_GIL=1 or 0 for the probe
GIL_ENV = {"on": "1", "off": "0"}


def free_threaded_build() -> bool:
    # Py_GIL_DISABLED is 0 (or None on versions before 3.13) on a GIL build: only its truth says "free-threaded".
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """The GIL's state now: always on before 3.13 and on every GIL build."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def facts(gil_start: bool) -> dict[str, Any]:
    """This interpreter, read at the end of a cell whose GIL state at its start was `gil_start`."""
    return {"path": sys.executable, "version": platform.python_version(),
            "implementation": sys.implementation.name, "free_threaded": free_threaded_build(),
            "gil_start": gil_start, "gil_end": gil_enabled()}


def gil_state(recorded: Mapping[str, Any] | None) -> str:
    """How a cell ran, from its record's facts: "gil" (a GIL build, or unknown), "no-gil" (free-threaded, the
    GIL off from start to end), "gil-enabled" (free-threaded build, GIL on from the start: PYTHON_GIL=1 or an
    extension imported before the cell) or "gil-re-enabled" (off at the start, on at the end: an import during
    the cell)."""
    if not recorded or not recorded.get("free_threaded"):
        return "gil"
    start, end = bool(recorded.get("gil_start", True)), bool(recorded.get("gil_end", True))
    if not start and not end:
        return "no-gil"
    return "gil-re-enabled" if not start else "gil-enabled"


def runs_without_gil(recorded: Mapping[str, Any] | None) -> bool:
    """Whether threads of this cell could run Python in parallel for the whole cell."""
    return gil_state(recorded) == "no-gil"


def gil_mismatch(requested: str | None, recorded: Mapping[str, Any]) -> str | None:
    """Why a cell that asked for `requested` ("on"/"off", PYTHON_GIL) did not get it at its start; None when
    it did or asked for nothing. Only free-threaded builds take the setting (see runner.spec)."""
    if requested is None:
        return None
    if not recorded.get("free_threaded"):
        return f"gil={requested} needs a free-threaded build; {recorded.get('path')} has the GIL"
    wanted_on = requested == "on"
    if bool(recorded.get("gil_start", True)) != wanted_on:
        return (f"PYTHON_GIL={GIL_ENV[requested]} did not take effect: the GIL was "
                f"{'on' if recorded.get('gil_start', True) else 'off'} at the start of the cell "
                "(an extension without free-threading support imported before it re-enables the GIL)")
    return None


def label(recorded: Mapping[str, Any] | None, fallback: str = "this interpreter") -> str:
    """'3.13.0', '3.13.0t', '3.13.0t (GIL re-enabled)': how a report names the interpreter of a cell."""
    if not recorded:
        return fallback
    name = str(recorded.get("version", "?")) + ("t" if recorded.get("free_threaded") else "")
    if recorded.get("implementation") not in (None, "cpython"):
        name = f"{recorded['implementation']} {name}"
    suffix = {"gil-enabled": " (GIL on)", "gil-re-enabled": " (GIL re-enabled)"}.get(gil_state(recorded), "")
    return name + suffix
