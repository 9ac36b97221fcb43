"""Human formatting of durations, sizes and ratios (shared by the CLI and the reports)."""

from __future__ import annotations

import math


def fmt_duration(ns: float | None) -> str:
    """3 significant digits in the unit that fits: 812 ns, 45.3 us, 123 ms, 2.41 s; '-' for no value (None or
    NaN: a summary's empty cell)."""
    if ns is None or math.isnan(ns):
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(ns) >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.0f} ns"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_count(n: int) -> str:
    """10000000 -> '1e7' when it is a power of ten, else with thousands separators."""
    s = str(n)
    if n >= 10_000 and s.rstrip("0") == "1":
        return f"1e{len(s) - 1}"
    return f"{n:,}".replace(",", "_")


def fmt_minutes(seconds: float) -> str:
    """'7 min 05 s', or '42 s' under a minute: how long a sweep takes or will take."""
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s" if seconds >= 60 else f"{seconds:.0f} s"
