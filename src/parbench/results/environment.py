"""What a run was measured on, for meta.json and `parbench info`: CPU, memory, /dev/shm, OS, Python and its
GIL, the versions that matter, and the parbench commit. Anything unreadable here is None, never an error.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from parbench.cpus import usable_cpus
from parbench.segments import SHM_DIR
from parbench.version import __version__

PACKAGES = ("numpy", "SharedArray", "dispy", "dask", "distributed", "joblib", "ray", "mpire", "mpi4py", "psutil",
            "pandas", "scipy")
CPUFREQ = Path("/sys/devices/system/cpu/cpu0/cpufreq")


def _cpu_model() -> str | None:
    try:
        import cpuinfo

        brand = cpuinfo.get_cpu_info().get("brand_raw")
        return str(brand) if brand else None
    except Exception:  # py-cpuinfo probes the hardware many ways; none of them may stop a run
        return platform.processor() or None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def cpu() -> dict[str, Any]:
    freq = None
    with contextlib.suppress(Exception):
        freq = psutil.cpu_freq()
    return {"model": _cpu_model(), "machine": platform.machine(), "logical": psutil.cpu_count(),
            "physical": psutil.cpu_count(logical=False), "affinity": usable_cpus(),
            "frequency_mhz": None if freq is None else {"current": freq.current, "min": freq.min, "max": freq.max},
            "governor": _read(CPUFREQ / "scaling_governor")}


def memory() -> dict[str, Any]:
    vm = psutil.virtual_memory()
    shm: dict[str, Any] = {"path": str(SHM_DIR), "total": None, "free": None}
    with contextlib.suppress(OSError):
        usage = shutil.disk_usage(SHM_DIR)
        shm.update(total=usage.total, free=usage.free)
    return {"total": vm.total, "available": vm.available, "shm": shm}


def gil_enabled() -> bool:
    """Whether the GIL is on now: always on a default build; a free-threaded build may run without it."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def python() -> dict[str, Any]:
    return {"version": platform.python_version(), "implementation": platform.python_implementation(),
            "build": list(platform.python_build()), "compiler": platform.python_compiler(),
            "executable": sys.executable, "free_threading_build": bool(sysconfig.get_config_var("Py_GIL_DISABLED")),
            "gil_enabled": gil_enabled()}


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"parbench": __version__}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git() -> dict[str, Any]:
    """The commit of the parbench source tree and whether it had uncommitted changes (None off git)."""
    where = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


def collect() -> dict[str, Any]:
    """The machine and software this process runs on."""
    return {"hostname": platform.node(), "os": platform.platform(), "cpu": cpu(), "memory": memory(),
            "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "python": python(), "packages": versions(), "git": git()}
