"""The machine id that names a bench baseline: `results/baselines/<machine-id>/`.

Readable: architecture, CPU model (py-cpuinfo) and logical CPU count, slugified, e.g.
`x86_64-intel-xeon-processor-2.50ghz-2cpu`. It names where a baseline is saved, not what it may be compared
with: the same VM's CPU string has read with and without "@ 2.50GHz", and CI runners change CPU models from run
to run, so the gate compares its normalised figure (paired ratio to sequential) with any baseline of the same
architecture, logical CPU count and Python (bench/gate.py `find_baseline`), this id's first.
`PARBENCH_MACHINE_ID` overrides it. Run as a script, it prints it.
"""

from __future__ import annotations

import functools
import os
import platform
import re


def slugify(text: str) -> str:
    """Lowercase, trademark marks dropped, runs of anything but [a-z0-9_.] turned into one '-'."""
    text = re.sub(r"\((r|tm|c)\)", "", text.lower())
    return re.sub(r"[^a-z0-9_.]+", "-", text).strip("-.")


def cpu_model() -> str:
    import cpuinfo

    info = cpuinfo.get_cpu_info()
    return str(info.get("brand_raw") or info.get("arch_string_raw") or "unknown-cpu")


@functools.cache
def machine_id() -> str:
    override = os.environ.get("PARBENCH_MACHINE_ID", "").strip()
    if override:
        return slugify(override)
    return slugify(f"{platform.machine()}-{cpu_model()}-{os.cpu_count() or 1}cpu")


if __name__ == "__main__":
    print(machine_id())
