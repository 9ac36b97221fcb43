"""Interpreters as a sweep axis: find them, and give each an environment with parbench in it.

`--pythons 3.11,3.13,/opt/python3.14t/bin/python3` names interpreters by version (found on PATH, under pyenv's
versions folder or uv's managed pythons) or by path. The running interpreter needs nothing: its environment is
this one. Every other gets a virtual environment of its own, like asv's or nox's: created once under the
environments folder (`--envs`, TOML `envs`; default `~/.cache/parbench/envs`), with parbench installed editable
from the source tree this parbench runs from plus only the extras the sweep's strategies need, and reused while
the project's pyproject.toml and those extras are unchanged (a stamp in the environment says which).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from parbench.errors import UserError
from parbench.results.schema import Cell

# Asked in each candidate: its version, whether it is a free-threaded build, its implementation.
DESCRIBE = ("import json, platform, sys, sysconfig; print(json.dumps([platform.python_version(), "
            "bool(sysconfig.get_config_var('Py_GIL_DISABLED')), sys.implementation.name]))")
VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(t?)$")
NAME = re.compile(r"^python3(\.\d+)?t?$")
STAMP = ".parbench-env"
INSTALL_TIMEOUT_S = 1200.0
MIN_VERSION = (3, 11)  # pyproject.toml's requires-python (tests/test_environments.py checks they agree)
FOUND = "found"  # pythons = "found": every supported interpreter found here (runner.spec, the gil preset)


@dataclass(frozen=True)
class Interpreter:
    """One interpreter found on this machine."""

    path: str
    version: str  # "3.13.0"
    free_threaded: bool
    implementation: str = "cpython"

    def name(self) -> str:
        return self.version + ("t" if self.free_threaded else "")

    def is_running(self) -> bool:
        """The interpreter this parbench runs under (its own environment, nothing to build)."""
        return (self.version, self.free_threaded) == _running() and _real(self.path) == _real(_base_executable())


def _real(path: str) -> str:
    return os.path.realpath(path)


def _base_executable() -> str:
    """The interpreter a virtual environment's python stands for (sys.executable outside one)."""
    return str(getattr(sys, "_base_executable", sys.executable))


def _running() -> tuple[str, bool]:
    from parbench.results.interpreter import free_threaded_build

    return ".".join(map(str, sys.version_info[:3])), free_threaded_build()


@functools.cache
def describe(path: str) -> Interpreter | None:
    """The interpreter at `path`, or None when it is not one that answers (Python 2, a broken shim)."""
    try:
        done = subprocess.run([path, "-I", "-c", DESCRIBE], capture_output=True, text=True, timeout=30, check=False)
        version, free, impl = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return Interpreter(path, str(version), bool(free), str(impl))


def _pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


def _uv_root() -> Path:
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(os.environ.get("UV_PYTHON_INSTALL_DIR") or Path(data) / "uv" / "python")


def candidates() -> Iterator[str]:
    """Executables that may be interpreters: on PATH (python3, python3.N, python3.Nt), then pyenv's and uv's."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder and Path(folder).is_dir() and "shims" not in folder:  # pyenv's shims: the real ones come below
            yield from sorted(str(p) for p in Path(folder).iterdir() if NAME.match(p.name) and os.access(p, os.X_OK))
    for root in (_pyenv_root() / "versions", _uv_root()):
        if root.is_dir():
            found = (p for p in root.glob("*/bin/python3*") if NAME.match(p.name) and os.access(p, os.X_OK))
            yield from sorted(str(p) for p in found)


@functools.cache
def found() -> tuple[Interpreter, ...]:
    """Every interpreter found (each real executable once), for matching and for the refusal message."""
    seen: dict[str, Interpreter] = {}
    for path in candidates():
        real = _real(path)
        if real not in seen and (interp := describe(path)) is not None and interp.version.startswith("3."):
            seen[real] = interp
    return tuple(seen.values())


def _version_key(interp: Interpreter) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", interp.version))


def matches(asked: str, interp: Interpreter) -> bool:
    """'3.13' matches 3.13.x GIL builds, '3.13t' the free-threaded ones, '3.13.0' that release only."""
    m = VERSION.match(asked)
    if m is None:
        return False
    wanted = ".".join(p for p in m.groups()[:3] if p)
    return interp.free_threaded == bool(m.group(4)) and (interp.version + ".").startswith(wanted + ".")


def resolve(asked: str, where: str = "--pythons") -> Interpreter:
    """A version (the newest matching release found) or a path -> an Interpreter; a UserError naming what was
    found otherwise."""
    if os.sep in asked:
        interp = describe(asked) if os.access(asked, os.X_OK) and Path(asked).is_file() else None
        if interp is None:
            raise UserError(f"{where}: {asked} is not a Python interpreter that runs here")
        return interp
    if VERSION.match(asked) is None:
        raise UserError(f"{where}: expected a version like 3.13 or 3.13t, or an interpreter's path; got {asked!r}")
    hits = [i for i in found() if matches(asked, i)]
    if not hits:
        listed = ", ".join(f"{i.name()} ({i.path})" for i in sorted(found(), key=_version_key)) or "none"
        raise UserError(f"{where}: no Python {asked} found on PATH, under pyenv or uv; found: {listed}")
    return max(hits, key=_version_key)


def supported() -> tuple[str, ...]:
    """Every minor version found here that parbench runs on (3.11+), GIL and free-threaded builds apart, as the
    versions to ask for ('3.11', '3.13', '3.13t'): what `pythons = "found"` (the gil preset) measures."""
    names = {f"{i.version.rsplit('.', 1)[0]}{'t' if i.free_threaded else ''}" for i in found()
             if i.implementation == "cpython" and _version_key(i)[:2] >= MIN_VERSION}
    return tuple(sorted(names, key=lambda n: (tuple(int(p) for p in n.rstrip("t").split(".")), n)))


# --- environments --------------------------------------------------------------------------------------------

def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "parbench" / "envs"


def source_tree() -> Path:
    """The project folder parbench runs from (src layout): what each environment installs, editable."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file():
        raise UserError("--pythons needs parbench installed from its source tree (pip install -e .): "
                        f"no pyproject.toml above {Path(__file__).resolve().parent}")
    return root


def extras_for(strategies: Iterable[str]) -> tuple[str, ...]:
    """The parbench extras the given strategies need (a strategy's `pip_extra`), sorted, each once."""
    from parbench import registry

    needed = set()
    for name in strategies:
        extra = getattr(registry.get_strategy(name), "pip_extra", None)
        if extra:
            needed.add(str(extra))
    return tuple(sorted(needed))


def _stamp(source: Path, extras: tuple[str, ...]) -> str:
    project = hashlib.sha256((source / "pyproject.toml").read_bytes()).hexdigest()[:16]
    return json.dumps({"source": str(source), "pyproject": project, "extras": list(extras)})


def env_folder(interp: Interpreter, root: Path, source: Path) -> Path:
    """One folder per interpreter (its real executable) and source tree."""
    digest = hashlib.sha256(f"{_real(interp.path)}\0{source}".encode()).hexdigest()[:10]
    return root / f"{interp.implementation}-{interp.name()}-{digest}"


def ensure(interp: Interpreter, root: Path | None, extras: tuple[str, ...]) -> str:
    """The python of `interp`'s environment, built or updated when needed; the running interpreter's own."""
    if interp.is_running():
        return sys.executable
    source = source_tree()
    folder = env_folder(interp, root or default_root(), source)
    python = folder / "bin" / "python"
    stamp = _stamp(source, extras)
    if python.exists() and (folder / STAMP).is_file() and (folder / STAMP).read_text() == stamp:
        return str(python)
    if _version_key(interp)[:2] < MIN_VERSION:
        # Said before a venv is made: pip would say it too, but only after ~20 s of building parbench's metadata.
        raise UserError(f"cannot build the environment of Python {interp.name()} in {folder}: parbench requires "
                        f"Python >={'.'.join(map(str, MIN_VERSION))} (pyproject.toml's requires-python)")
    _build(interp, folder, source, extras)
    (folder / STAMP).write_text(stamp)
    return str(python)


def _build(interp: Interpreter, folder: Path, source: Path, extras: tuple[str, ...]) -> None:
    print(f"parbench: building the environment of Python {interp.name()} in {folder} (once; reused afterwards)",
          file=sys.stderr)
    target = f"{source}[{','.join(extras)}]" if extras else str(source)
    if folder.exists() and not (folder / "bin" / "python").exists():
        shutil.rmtree(folder)  # a half-made environment from an interrupted build
    steps = ([interp.path, "-m", "venv", str(folder)],
             [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "-e", target])
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise UserError(f"cannot build the environment of Python {interp.name()} in {folder}: {exc}") from None
        if done.returncode != 0:
            raise UserError(f"cannot build the environment of Python {interp.name()} in {folder}: "
                            f"{' '.join(step[1:4])} failed: {_last_error(done.stderr or done.stdout)}")


def _last_error(text: str) -> str:
    """The line of pip's or venv's output that says what went wrong (its last 'ERROR:' line, else the last)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR")]
    return (errors or lines or ["no message"])[-1][:300]


def prepare(cells: Iterable[Cell], root: str | None) -> dict[str, str]:
    """Each interpreter the cells ask for -> its environment's python, built first where needed, with the extras
    of the strategies measured under it."""
    wanted: dict[str, set[str]] = {}
    for cell in cells:
        if cell.python is not None:
            wanted.setdefault(cell.python, set()).add(cell.strategy)
    folder = Path(root) if root else None
    return {asked: ensure(resolve(asked), folder, extras_for(names)) for asked, names in wanted.items()}
