"""`parbench info`: the machine a sweep would measure: CPUs and affinity, memory and its measured bandwidth,
/dev/shm, OS, Python and its GIL, and the versions that matter."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from parbench.results import environment
from parbench.runner.calibrate import memory_bandwidth
from parbench.units import fmt_bytes

NAME = "info"
HELP = "print this machine: cores, affinity, memory bandwidth, /dev/shm, OS, Python and its GIL, versions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def collect() -> dict[str, Any]:
    info = environment.collect()
    info["memory"]["bandwidth_bytes_per_s"] = memory_bandwidth()
    return info


def _rows(info: dict[str, Any]) -> list[tuple[str, str]]:
    cpu, mem, py = info["cpu"], info["memory"], info["python"]
    shm = mem["shm"]
    freq = cpu["frequency_mhz"]
    gil = "enabled" if py["gil_enabled"] else "disabled (free-threaded)"
    return [
        ("CPU", f"{cpu['model'] or '?'} ({cpu['machine']})"),
        ("cores", f"{cpu['logical']} logical, {cpu['physical'] or '?'} physical"),
        ("affinity", f"{len(cpu['affinity'])} usable: {','.join(map(str, cpu['affinity']))}"),
        ("frequency", f"{freq['current']:.0f} MHz" if freq else "not readable"),
        ("governor", cpu["governor"] or "not readable"),
        ("load average", " ".join(f"{x:.2f}" for x in info["load_average"] or [])),
        ("memory", f"{fmt_bytes(mem['total'])} total, {fmt_bytes(mem['available'])} available"),
        ("memory bandwidth", f"{mem['bandwidth_bytes_per_s'] / 1e9:.1f} GB/s (numpy sum, one core)"),
        ("/dev/shm", f"{fmt_bytes(shm['free'])} free of {fmt_bytes(shm['total'])}" if shm["total"] else "missing"),
        ("OS", info["os"]),
        ("Python", f"{py['implementation']} {py['version']} ({py['executable']})"),
        ("GIL", gil + (", free-threading build" if py["free_threading_build"] else "")),
        ("packages", ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v)),
        ("parbench commit", f"{info['git']['commit'] or '?'}" + (" (dirty)" if info["git"]["dirty"] else "")),
    ]


def main(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for name, value in _rows(info):
        table.add_row(name, value)
    Console(highlight=False).print(table)
    return 0
