"""examples/course.ipynb, executed on a real ipykernel by nbclient: its sweeps run, every answer is exact, every
workload point names a winner, and the cube function defined inside the notebook runs in a sweep's probes."""

from __future__ import annotations

import os
import re
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import ROOT, SWEEP_TIMEOUT

NOTEBOOK = ROOT / "examples" / "course.ipynb"
# What the notebook's `show(run)` prints: the answer of every repeat, per comparison.
EXACT = {"transports": [499_999_500_000], "squares": [140], "exercise": [25_502_500]}

# serial: every workload point must have a winner, which another test's load beside it can take away.
# One xdist worker runs the module: the notebook (a module fixture, ~27 s) is executed once, not once per worker.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3 * SWEEP_TIMEOUT), pytest.mark.serial,
              pytest.mark.xdist_group("notebook")]


def _text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def _html(cell: Any) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.get("outputs", [])
                   if o.get("output_type") in ("display_data", "execute_result"))


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The notebook run from top to bottom in a fresh kernel (its runs and shipped functions in a scratch
    folder); its code cells by the first name on their last line, `show NAME` for show(NAME)."""
    scratch = tmp_path_factory.mktemp("notebook")
    saved = {k: os.environ.get(k) for k in ("PARBENCH_RESULTS", "PARBENCH_FUNCTIONS")}
    os.environ.update(PARBENCH_RESULTS=str(scratch / "results"), PARBENCH_FUNCTIONS=str(scratch / "functions"))
    try:  # the kernel inherits this environment
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        NotebookClient(notebook, timeout=SWEEP_TIMEOUT, kernel_name="python3",
                       resources={"metadata": {"path": str(scratch)}}).execute()
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    cells: dict[str, Any] = {}
    for cell in notebook.cells:
        if cell.cell_type == "code":
            last = cell.source.strip().splitlines()[-1]
            shown = re.match(r"show\((\w+)\)", last)
            cells[f"show {shown.group(1)}" if shown else re.match(r"\w*", last).group()] = cell
    return cells


@pytest.mark.parametrize("run", list(EXACT))
def test_every_answer_is_exact_and_every_point_has_a_winner(executed: dict[str, Any], run: str) -> None:
    """show(run) prints that every repeat was exact, the one exact answer, and a winner for each workload point
    (a strategy, sequential, or 'none clearly' when two are within the noise; never 'none': no trusted cell)."""
    text = _text(executed[f"show {run}"])
    assert "every repeat exact: True" in text, text
    assert f"results: {EXACT[run]}" in text, text
    winners = re.findall(r": winner (.+)$", text, re.M)
    assert len(winners) == 1 and winners[0] != "none", text


@pytest.mark.parametrize("run", list(EXACT))
def test_each_run_shows_itself_inline(executed: dict[str, Any], run: str) -> None:
    """A sweep's last line displays the Run: its winners, speedup table and figure as HTML."""
    html = _html(executed[run])
    assert "parbench run" in html and "<svg" in html and "sequential" in html


def test_the_function_defined_in_the_notebook_runs_in_pools_and_in_probes(executed: dict[str, Any]) -> None:
    """cube, defined in a cell: its exact answer; a Pool(4) in the kernel; a sweep of it under fork and spawn,
    whose table names both start methods."""
    assert executed["cubes"]["outputs"][0]["data"]["text/plain"] == "25502500"
    assert _text(executed["print"]).split("\n")[0] == "OK [25502500, 25502500, 25502500]"
    html = _html(executed["exercise"])
    assert "(fork)" in html and "(spawn)" in html, html[:2000]
