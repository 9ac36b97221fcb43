"""The GIL decisions on recorded interpreter facts (no free-threaded build is needed to check them), the cell
identity of the interpreter axis, and the facts recorded under this interpreter."""

from __future__ import annotations

import json
import platform
import sys

import pytest

from conftest import FIXTURE
from parbench.results import interpreter
from parbench.results.schema import SCHEMA_VERSION, Cell, Record
from parbench.runner.plan import gil_variants

# Facts as probes record them (results.interpreter.facts), on the three kinds of run the report must tell apart.
FREE_THREADED_NO_GIL = {"path": "/opt/py/bin/python3.14t", "version": "3.14.0", "implementation": "cpython",
                        "free_threaded": True, "gil_start": False, "gil_end": False}
# An extension without free-threading support imported during the cell turns the GIL back on for the process.
FREE_THREADED_RE_ENABLED = {**FREE_THREADED_NO_GIL, "gil_end": True}
FREE_THREADED_GIL_ON = {**FREE_THREADED_NO_GIL, "gil_start": True, "gil_end": True}
GIL_BUILD = {"path": "/usr/bin/python3.13", "version": "3.13.0", "implementation": "cpython",
             "free_threaded": False, "gil_start": True, "gil_end": True}


@pytest.mark.parametrize(("facts", "state", "parallel", "label"), [
    (FREE_THREADED_NO_GIL, "no-gil", True, "3.14.0t"),
    (FREE_THREADED_RE_ENABLED, "gil-re-enabled", False, "3.14.0t (GIL re-enabled)"),
    (FREE_THREADED_GIL_ON, "gil-enabled", False, "3.14.0t (GIL on)"),
    (GIL_BUILD, "gil", False, "3.13.0"),
    (None, "gil", False, "this interpreter"),
])
def test_gil_state_from_recorded_facts(facts: dict[str, object] | None, state: str, parallel: bool,
                                       label: str) -> None:
    """Only a free-threaded build whose GIL stayed off from start to end of the cell counts as GIL-free."""
    assert interpreter.gil_state(facts) == state
    assert interpreter.runs_without_gil(facts) is parallel
    assert interpreter.label(facts) == label


def test_a_gil_request_that_took_effect_is_accepted() -> None:
    """gil=off on a free-threaded build that started without the GIL, gil=on on one that started with it."""
    assert interpreter.gil_mismatch("off", FREE_THREADED_NO_GIL) is None
    assert interpreter.gil_mismatch("on", FREE_THREADED_GIL_ON) is None
    assert interpreter.gil_mismatch(None, GIL_BUILD) is None


def test_gil_off_that_did_not_take_effect_is_refused() -> None:
    """PYTHON_GIL=0 with the GIL on at the start (an import re-enabled it before the cell) is said, not measured."""
    reason = interpreter.gil_mismatch("off", FREE_THREADED_GIL_ON)
    assert reason == ("PYTHON_GIL=0 did not take effect: the GIL was on at the start of the cell (an extension "
                      "without free-threading support imported before it re-enables the GIL)")


def test_gil_setting_on_a_gil_build_is_refused() -> None:
    """A GIL build has no GIL to switch off."""
    reason = interpreter.gil_mismatch("off", GIL_BUILD)
    assert reason == "gil=off needs a free-threaded build; /usr/bin/python3.13 has the GIL"


def test_gil_axis_applies_to_free_threaded_builds_only() -> None:
    """The `gil` sub-axis multiplies free-threaded interpreters' cells only."""
    assert gil_variants(True, ("on", "off")) == ("on", "off")
    assert gil_variants(False, ("on", "off")) == (None,)
    assert gil_variants(True, ()) == (None,)


def test_facts_of_this_interpreter() -> None:
    """Under this (GIL) build: its path, version and implementation, no free threading, the GIL on throughout."""
    assert interpreter.facts(gil_start=True) == {
        "path": sys.executable, "version": platform.python_version(), "implementation": sys.implementation.name,
        "free_threaded": False, "gil_start": True, "gil_end": True}
    assert interpreter.free_threaded_build() is False  # Py_GIL_DISABLED: 0 on 3.13's GIL build, None before


def test_cell_keys_without_interpreter_are_unchanged() -> None:
    """A cell under the running interpreter keeps the key of older runs (python and gil left out)."""
    raw = json.loads((FIXTURE / "records.jsonl").read_text().splitlines()[0])
    cell = Cell.from_dict(raw["cell"])
    assert cell.python is None and cell.key() == json.dumps(raw["cell"], sort_keys=True, separators=(",", ":"))


def test_cell_with_interpreter_round_trips() -> None:
    """python and gil are part of the key, the label and the JSON when set."""
    cell = Cell("array-sum", {"size": 10}, "threads", 2, python="3.14t", gil="off")
    assert Cell.from_dict(json.loads(cell.key())) == cell
    assert json.loads(cell.key())["python"] == "3.14t" and cell.label().endswith(" py3.14t gil=off")


def test_version_2_record_reads_with_no_interpreter_facts() -> None:
    """A schema-2 record migrates: interpreter None, the current schema version."""
    raw = json.loads((FIXTURE / "records.jsonl").read_text().splitlines()[0])
    record = Record.from_dict({**raw, "schema_version": 2})
    assert record.interpreter is None and record.schema_version == SCHEMA_VERSION == 3
