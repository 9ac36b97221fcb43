"""One visual identity per strategy, the same in every figure, legend, card and table of a report.

A strategy's colour and marker are fixed here, keyed by its name, so thread-pool is the same blue in the time
figure of one run and the efficiency figure of another. The colours come from Paul Tol's colour-blind-safe
schemes (SRON/EPS/TN/09-002), grouped so a family reads as one
hue: threads blue, processes passing messages red-orange, processes sharing state green-yellow, process pools
purple, distributed engines brown-grey, sequential (the reference) black. Within a group the marker and the
lightness tell strategies apart, so the figures stay legible without colour at all.

A strategy parbench does not know (a plugin) gets a colour of its family's group and a marker picked by a
stable hash of its name: the same plugin looks the same in every report, on every machine.

This module imports nothing heavy: the terminal tables read the order from it too.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import pandas as pd

# name -> (colour, marker), in the order figures, legends and tables list strategies. Markers are matplotlib's.
KNOWN: dict[str, tuple[str, str]] = {
    "sequential": ("#000000", "o"),
    # threads: blues
    "threads": ("#004488", "s"),
    "thread-pool": ("#6699CC", "D"),
    # processes passing messages: reds and oranges
    "process-pipe": ("#CC3311", "^"),
    "process-queue": ("#EE7733", "v"),
    "manager": ("#EE3377", "<"),
    # processes sharing state: greens and yellows
    "shared-memory": ("#117733", "P"),
    "shared-array": ("#44AA99", "X"),
    "mp-array": ("#999933", "h"),
    "value-lock": ("#DDAA33", ">"),
    "value-nolock": ("#AA7711", "d"),
    # process pools: purples
    "pool-map": ("#882255", "p"),
    "process-pool-executor": ("#AA4499", "*"),
    "joblib": ("#CC6677", "H"),
    "mpire": ("#663399", "8"),
    # distributed engines: browns and greys
    "mpi": ("#555555", "s"),
    "mpi-pickle": ("#999999", "D"),
    "dask": ("#995533", "^"),
    "ray": ("#BB8855", "v"),
    "dispy": ("#776644", "p"),
}
# A plugin's colour: one of its family's group (processes: the pools' purples would mislead, so greys).
FALLBACK: dict[str, tuple[str, ...]] = {
    "sequential": ("#333333",),
    "threads": ("#004488", "#6699CC", "#77AADD", "#225588"),
    "processes": ("#BB5566", "#EE8866", "#99DDFF", "#44BB99"),
    "distributed": ("#555555", "#888888", "#AA8866", "#776644"),
}
OTHER = ("#BBBBBB", "#888888", "#666666")  # a family parbench does not know either
FALLBACK_MARKERS = "o^vsDpP*Xh<>"
# A second series of one strategy (another start method, other options): same colour and marker, another dash.
Dash = Literal["-", "--", "-.", ":"]
DASHES: tuple[Dash, ...] = ("-", "--", "-.", ":")


@dataclass(frozen=True)
class Style:
    """How one series is drawn: colour (#rrggbb), marker and line style, the same in every figure."""

    colour: str
    marker: str
    dash: Dash = "-"


def _stable(name: str) -> int:
    return zlib.crc32(name.encode())  # hash() is salted per process: not stable across runs


def strategy_style(name: str, family: str | None = None) -> Style:
    """The colour and marker of strategy `name` (of `family`, for a strategy not listed in KNOWN)."""
    if name in KNOWN:
        colour, marker = KNOWN[name]
        return Style(colour, marker)
    shades = FALLBACK.get(family or "", OTHER)
    h = _stable(name)
    return Style(shades[h % len(shades)], FALLBACK_MARKERS[(h // len(shades)) % len(FALLBACK_MARKERS)])


FAMILIES = ("sequential", "threads", "processes", "distributed")


def order_key(name: str, family: str | None = None) -> tuple[int, int, str]:
    """Where strategy `name` sits in every list: KNOWN's order (families grouped, sequential first), then the
    strategies parbench does not know, by family and name."""
    known = list(KNOWN)
    if name in known:
        return 0, known.index(name), name
    rank = FAMILIES.index(family) if family in FAMILIES else len(FAMILIES)
    return 1, rank, name


def ordered(rows: pd.DataFrame, *then: str) -> pd.DataFrame:
    """`rows` (with strategy and family columns) in the report's strategy order, then by the columns `then`."""
    keys = [order_key(s, f if isinstance(f, str) else None) for s, f in zip(rows["strategy"], rows["family"],
                                                                             strict=True)]
    rank = {key: i for i, key in enumerate(sorted(set(keys)))}
    out = rows.assign(_strategy_rank=[rank[k] for k in keys])
    return out.sort_values(["_strategy_rank", *then], kind="stable").drop(columns="_strategy_rank")


def series_styles(summary: pd.DataFrame) -> dict[str, Style]:
    """Series label -> Style for every series of an annotated summary, in the report's order: a strategy's
    colour and marker, and a dash telling its start methods (or option sets) apart."""
    found: dict[str, Style] = {}
    if summary.empty:
        return found
    series = ordered(summary.drop_duplicates("label"), "label")
    seen: dict[str, int] = {}
    for _, row in series.iterrows():
        name = str(row["strategy"])
        base = strategy_style(name, row["family"] if isinstance(row["family"], str) else None)
        n = seen.get(name, 0)
        seen[name] = n + 1
        found[str(row["label"])] = Style(base.colour, base.marker, DASHES[n % len(DASHES)])
    return found


def legend_order(styles: Mapping[str, Style], labels: Iterable[str]) -> list[str]:
    """`labels` in the order of `styles` (the report's order), each once."""
    wanted = set(labels)
    return [label for label in styles if label in wanted]
