"""The machine id that names a bench baseline: `results/baselines/<machine-id>/`.

Stable and readable: architecture, CPU model (py-cpuinfo) and logical CPU count, slugified, e.g.
`x86_64-intel-xeon-processor-2.50ghz-2cpu`. Timings are only comparable on the same hardware, so a
baseline is only ever compared with runs on a machine with the same id. `PARBENCH_MACHINE_ID` overrides
it (for a fleet of identical runners that report different CPU strings). Run as a script, it prints it.
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
