"""Shipping a function workload's definition to probes and workers: a content-addressed cloudpickle file.

The file holds the driver's `sys.path` (read with plain pickle first, so that a probe started in another
directory can import the modules an importable function lives in) and the cloudpickled definition.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parbench.errors import BadValue, UnknownName


@dataclass(frozen=True)
class Shipped:
    """What a function workload is, as it travels: everything a run of it needs, its exact answer included."""

    name: str
    fn: Callable[[Any], Any]
    inputs: tuple[Any, ...]
    combine: Callable[[Iterable[Any]], Any]
    chunksize: int
    rtol: float | None
    expected: Any


def functions_dir() -> Path:
    """`$PARBENCH_FUNCTIONS`, else `$XDG_CACHE_HOME/parbench/functions` (default `~/.cache/parbench/functions`)."""
    if os.environ.get("PARBENCH_FUNCTIONS"):
        return Path(os.environ["PARBENCH_FUNCTIONS"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "parbench" / "functions"


def _dumps(shipped: Shipped) -> bytes:
    import cloudpickle  # type: ignore[import-untyped]  # imported here: only function workloads need it

    try:
        payload = cloudpickle.dumps(shipped)
        pickle.loads(payload)  # a definition that pickles but cannot load back would fail in every worker
    except Exception as exc:
        raise BadValue(f"cannot ship function workload {shipped.name!r} to worker processes: cloudpickle "
                        f"says {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    return pickle.dumps({"paths": [p for p in sys.path if p], "payload": payload})


def ship(shipped: Shipped) -> str:
    """Write the definition where probes and workers find it; its hash is the cells' reference."""
    blob = _dumps(shipped)
    digest = hashlib.sha256(blob).hexdigest()[:16]
    folder = functions_dir()
    target = folder / f"{digest}.pkl"
    if not target.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
            os.replace(tmp, target)  # atomic: a probe never reads half a file
        except OSError as exc:
            raise BadValue(f"cannot write function workload {shipped.name!r} to {folder}: "
                            f"{exc.strerror or exc} (set PARBENCH_FUNCTIONS to a writable folder)") from None
    return digest


@functools.cache
def load_shipped(digest: str) -> Shipped:
    """The definition behind a hash, loaded once per process."""
    path = functions_dir() / f"{digest}.pkl"
    try:
        outer = pickle.loads(path.read_bytes())
    except OSError as exc:
        raise BadValue(f"function workload {digest!r} is not in {path.parent} ({exc.strerror or exc}): "
                        "build it again with parbench.function_workload") from None
    sys.path.extend(p for p in outer["paths"] if p not in sys.path)
    try:
        shipped = pickle.loads(outer["payload"])
    except Exception as exc:
        raise BadValue(f"cannot load function workload {digest!r}: {type(exc).__name__}: {exc}") from None
    if not isinstance(shipped, Shipped):
        raise BadValue(f"{path} is not a parbench function workload")
    return shipped


def import_reference(text: str, what: str) -> Any:
    """`pkg.mod:attr` (attr may be dotted) -> the object; modules in the current directory import too."""
    module, sep, attr = text.partition(":")
    if not sep or not module or not attr:
        raise BadValue(f"{what}: expected MODULE:NAME like mypkg.mymod:myfunc, got {text!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: the user's own module sits in the folder
    try:
        obj: Any = importlib.import_module(module)
    except Exception as exc:
        raise UnknownName(f"{what}: cannot import module {module!r}: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        with contextlib.suppress(AttributeError):
            obj = getattr(obj, part)
            continue
        raise UnknownName(f"{what}: module {module!r} has no {attr!r}")
    return obj
