"""Optional packages (dispy, dask, joblib): whether one is installed, asked without importing it."""

from __future__ import annotations

import importlib.util


def installed(package: str) -> bool:
    """Whether top-level `package` can be imported. Finding is not importing: `parbench list` stays fast and
    a package that is slow or broken to import cannot break it."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False
