"""ray, mpire, mpi and mpi-pickle without starting them: listed with family and availability, and each says
what is missing when it is."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from conftest import run_cli
from parbench.registry import get_strategy
from parbench.runner.plan import make_plan
from parbench.runner.presets import PRESETS
from parbench.runner.spec import build_spec

PACKAGES = {"ray": "ray", "mpire": "mpire", "mpi": "mpi4py", "mpi-pickle": "mpi4py"}


def test_list_shows_the_engines_available_with_their_family() -> None:
    """`parbench list --json`: the three distributed engines and mpire (processes, with start methods) are here."""
    result = run_cli(["list", "--json"])
    assert result.rc == 0, result.err
    found = {s["name"]: s for s in json.loads(result.out)["strategies"]}
    assert {n: (found[n]["family"], found[n]["available"], found[n]["start_methods"]) for n in PACKAGES} == {
        "ray": ("distributed", True, []), "mpi": ("distributed", True, []), "mpi-pickle": ("distributed", True, []),
        "mpire": ("processes", True, ["fork", "spawn", "forkserver"])}


@pytest.mark.parametrize("strategy", sorted(PACKAGES))
def test_missing_package_gives_the_install_hint(strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With its package not importable, the engine is unavailable and names the extra to install."""
    monkeypatch.setitem(sys.modules, PACKAGES[strategy], None)  # how Python marks a module as not importable
    reason = get_strategy(strategy).available() or ""
    assert "not installed" in reason and "pip install" in reason


@pytest.mark.parametrize("strategy", ["mpi", "mpi-pickle"])
def test_missing_mpiexec_says_which_packages_to_install(strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No mpiexec on PATH: unavailable, naming Debian's Open MPI packages."""
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    assert "mpiexec (apt-get install openmpi-bin libopenmpi-dev) not installed" in (
        get_strategy(strategy).available() or "")


@pytest.mark.parametrize("strategy", ["ray", "mpi", "mpi-pickle"])
def test_start_methods_do_not_apply_to_the_distributed_engines(strategy: str) -> None:
    """Ray and mpiexec start their own workers: asking for a start method is refused with a reason."""
    assert "start methods do not apply" in (get_strategy(strategy).available("spawn") or "")


@pytest.mark.parametrize("preset", ["default", "full"])
def test_default_and_full_presets_measure_the_engines(preset: str) -> None:
    """The default preset's peers and the full preset's families include all four engines."""
    planned = {c.cell.strategy for c in make_plan(build_spec(preset, None, {})).cells}
    assert {"ray", "mpire", "mpi", "mpi-pickle"} <= planned, PRESETS[preset]["strategies"]
