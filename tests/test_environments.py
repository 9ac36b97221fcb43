"""Interpreters by version or path, and their environments: what cannot be found or built is one line, exit 2."""

from __future__ import annotations

import platform
import tomllib
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from parbench.errors import UserError
from parbench.runner import environments
from parbench.runner.environments import Interpreter, matches, resolve


@pytest.mark.parametrize(("asked", "version", "free", "hit"), [
    ("3.13", "3.13.0", False, True),
    ("3.13", "3.13.10", False, True),
    ("3.1", "3.13.0", False, False),  # 3.1 is not a prefix of 3.13 by components
    ("3.13t", "3.13.0", False, False),
    ("3.13t", "3.13.0", True, True),
    ("3.13", "3.13.0", True, False),  # asking for 3.13 means the GIL build
    ("3.13.0", "3.13.0", False, True),
    ("3.13.1", "3.13.0", False, False),
])
def test_version_matching(asked: str, version: str, free: bool, hit: bool) -> None:
    """A version matches by whole components, and `t` selects the free-threaded build."""
    assert matches(asked, Interpreter("/x/python3", version, free)) is hit


def test_the_running_interpreter_is_found_and_needs_no_environment() -> None:
    """This interpreter's version resolves to an interpreter whose environment is this one."""
    found = resolve(".".join(platform.python_version_tuple()[:2]))
    assert found.version == platform.python_version()
    assert found.is_running()


def test_an_unknown_version_is_one_line_listing_what_was_found() -> None:
    """`--pythons 3.99` names the interpreters found instead (exit 2, one line, nothing written)."""
    result = run_cli(["sweep", "--pythons", "3.99", "--dry-run"])
    assert result.rc == 2
    assert result.err.count("\n") == 1
    assert result.err.startswith("parbench: error: --pythons: no Python 3.99 found on PATH, under pyenv or uv; found: ")
    assert f"{platform.python_version()} (" in result.err


@pytest.mark.parametrize("args", [["run", "--python", "/nonexistent/python3"],
                                  ["sweep", "--pythons", "3.13,/nonexistent/python3", "--dry-run"],
                                  ["sweep", "--pythons", "three", "--dry-run"],
                                  ["sweep", "--gil", "maybe", "--dry-run"]])
def test_bad_interpreter_input_is_one_line(args: list[str]) -> None:
    """A path that is no interpreter, a malformed version or GIL setting: one line, exit 2."""
    result = run_cli(args)
    assert result.rc == 2 and result.err.count("\n") == 1, result.err
    assert result.err.startswith("parbench: error: --")


def test_gil_on_a_gil_build_is_refused() -> None:
    """`run --python 3.13 --gil off`: 3.13 here is a GIL build, where PYTHON_GIL=0 would abort the interpreter."""
    result = run_cli(["run", "--python", "3.13", "--gil", "off"])
    assert result.rc == 2 and result.err.count("\n") == 1
    assert "--gil applies to free-threaded builds only; Python 3.13.0" in result.err


def test_an_interpreter_older_than_requires_python_is_one_line_before_any_build(tmp_path: Path) -> None:
    """Python 3.10 is found here, but parbench needs 3.11+: one line, exit 2, and no environment folder made."""
    result = run_cli(["run", "--python", "3.10", "--envs", str(tmp_path / "envs"), "--repeat", "1"])
    assert result.rc == 2 and result.out == ""
    error = [line for line in result.err.splitlines() if line.startswith("parbench: error:")]
    assert len(error) == 1, result.err
    assert "cannot build the environment of Python 3.10" in error[0]
    assert error[0].endswith("parbench requires Python >=3.11 (pyproject.toml's requires-python)")
    assert not (tmp_path / "envs").exists()


def test_min_version_is_pyprojects_requires_python() -> None:
    """The pre-build check reads the same floor pip enforces."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=" + ".".join(map(str, environments.MIN_VERSION))


def test_an_environment_whose_folder_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    """--envs naming a file: Python 3.13's venv step fails for real; its error becomes one line, exit 2."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    result = run_cli(["run", "--python", "3.13", "--envs", str(blocker), "--repeat", "1"])
    assert result.rc == 2 and result.out == ""
    error = [line for line in result.err.splitlines() if line.startswith("parbench: error:")]
    assert len(error) == 1, result.err
    assert f"cannot build the environment of Python {resolve('3.13').name()} in {blocker}/" in error[0]
    assert "-m venv" in error[0] and "Not a directory" in error[0], error[0]


def test_resolve_refuses_a_file_that_is_not_an_interpreter(tmp_path: Path) -> None:
    """An executable that does not answer like Python is refused by path."""
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(UserError, match="is not a Python interpreter that runs here"):
        environments.resolve(str(fake))


def test_found_means_every_supported_minor_version() -> None:
    """`pythons = "found"` (the gil preset): each 3.11+ minor version found here once, this one included."""
    found = environments.supported()
    assert ".".join(platform.python_version_tuple()[:2]) in found and "3.13" in found
    assert all(tuple(int(p) for p in name.rstrip("t").split(".")) >= (3, 11) for name in found)
    assert len(found) == len(set(found))


def test_toml_pythons_multiply_the_plan(tmp_path: Path) -> None:
    """TOML `pythons` gives every cell, its sequential baseline included, once per interpreter."""
    from parbench.runner.plan import make_plan
    from parbench.runner.spec import build_spec

    running = ".".join(platform.python_version_tuple()[:2])
    config = tmp_path / "sweep.toml"
    config.write_text(f'pythons = ["{running}", "3.13"]\nenvs = "~/envs"\nworkloads = ["array-sum"]\n'
                      'strategies = ["threads"]\nworkers = [2]\n'
                      '[params.array-sum]\nsize = [1000]\nkernel = ["python"]\n')
    spec = build_spec(None, config, {})
    assert spec.pythons == (running, "3.13") and spec.envs == str(Path("~/envs").expanduser())
    cells = sorted((c.cell.python or "", c.cell.strategy) for c in make_plan(spec).cells)
    assert cells == sorted((p, s) for p in (running, "3.13") for s in ("sequential", "threads"))
