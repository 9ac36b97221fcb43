"""`parbench list`: the workloads with their parameters, the strategies with family and availability.

Two layouts: by default each entry is a line of facts with its summary wrapped under it, readable at 80
columns (a table of six columns there squeezed every summary into a column a word wide); `--wide` prints
the tables of one row per entry, for a terminal wide enough (~150 columns).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from parbench import registry
from parbench.strategies.base import START_METHODS

NAME = "list"
BUILTIN = "built-in"  # the origin of parbench's own entries: the narrow layout names only plugins' origins
HELP = "list workloads (with parameters) and strategies (family, availability and why not)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--wide", action="store_true",
                        help="one table row per entry, every column side by side (needs ~150 columns)")


def _workload_info(entry: registry.Entry[Any]) -> dict[str, Any]:
    cls = entry.obj
    params = [] if cls is None else [
        {"name": p.name, "type": p.kind.__name__, "default": p.default, "help": p.help, "choices": list(p.choices)}
        for p in cls.parameters]
    return {"name": entry.name, "origin": entry.origin, "summary": getattr(cls, "summary", ""),
            "parameters": params, "error": entry.error}


def _strategy_info(entry: registry.Entry[Any]) -> dict[str, Any]:
    cls = entry.obj
    if cls is None:
        return {"name": entry.name, "origin": entry.origin, "family": None, "summary": "", "available": False,
                "reason": entry.error, "start_methods": [], "options": [], "error": entry.error}
    reason = _safe_available(cls, None)
    methods = [m for m in START_METHODS if cls.uses_start_method and _safe_available(cls, m) is None]
    return {"name": entry.name, "origin": entry.origin, "family": cls.family, "summary": cls.summary,
            "available": reason is None, "reason": reason, "start_methods": methods,
            "options": [{"name": p.name, "default": p.default, "help": p.help} for p in cls.options],
            "error": None}


def _safe_available(cls: Any, method: str | None) -> str | None:
    try:
        return cls.available(method)  # type: ignore[no-any-return]
    except Exception as exc:  # a plugin's available() must not break `list`
        return f"available() raised {type(exc).__name__}: {exc}"


def collect() -> dict[str, list[dict[str, Any]]]:
    return {"workloads": [_workload_info(e) for e in registry.workloads().values()],
            "strategies": [_strategy_info(e) for e in registry.strategies().values()]}


def _parameters(w: dict[str, Any], sep: str) -> str:
    return sep.join(f"{p['name']}={p['default']!r}" + (f" ({'|'.join(p['choices'])})" if p["choices"] else "")
                    for p in w["parameters"])


def _print_wide(console: Console, info: dict[str, list[dict[str, Any]]]) -> None:
    workloads = Table(title="Workloads", title_justify="left")
    for col in ("name", "origin", "parameters", "summary"):
        workloads.add_column(col, no_wrap=col != "summary")
    for w in info["workloads"]:
        workloads.add_row(w["name"], w["origin"], _parameters(w, "\n"), w["error"] or w["summary"])
    console.print(workloads)
    strategies = Table(title="Strategies", title_justify="left")
    for col in ("name", "family", "available", "start methods", "origin", "summary / reason"):
        strategies.add_column(col, no_wrap=col != "summary / reason")
    for s in info["strategies"]:
        mark = "[green]yes[/]" if s["available"] else "[red]no[/]"
        strategies.add_row(s["name"], s["family"] or "-", mark, " ".join(s["start_methods"]) or "-",
                           s["origin"], s["summary"] if s["available"] else s["reason"])
    console.print(strategies)


def _entry(console: Console, head: str, *texts: str) -> None:
    """A name with its facts on one line, then each text wrapped under it, indented."""
    console.print(head, highlight=False, overflow="fold")
    for text in texts:
        console.print(Padding(escape(text), (0, 0, 0, 4), expand=False), highlight=False)


def _print_narrow(console: Console, info: dict[str, list[dict[str, Any]]]) -> None:
    console.print("[bold]Workloads[/]")
    for w in info["workloads"]:
        origin = "" if w["origin"] == BUILTIN else f" [dim]({escape(w['origin'])})[/]"
        _entry(console, f"[bold cyan]{escape(w['name'])}[/]{origin}", "parameters: " + _parameters(w, ", "),
               w["error"] or w["summary"])
    console.print()
    console.print("[bold]Strategies[/] [dim](name, family, available, start methods)[/]")
    for s in info["strategies"]:
        mark = "[green]available[/]" if s["available"] else "[red]not available[/]"
        facts = [s["family"] or "-", mark, *([" ".join(s["start_methods"])] if s["start_methods"] else []),
                 *([escape(s["origin"])] if s["origin"] != BUILTIN else [])]
        _entry(console, f"[bold cyan]{escape(s['name'])}[/]  " + ", ".join(facts),
               s["summary"] if s["available"] else str(s["reason"]))


def _print(info: dict[str, list[dict[str, Any]]], wide: bool) -> None:
    console = Console()
    (_print_wide if wide else _print_narrow)(console, info)


def main(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print(info, args.wide)
    return 0
