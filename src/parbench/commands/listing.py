"""`parbench list`: the workloads with their parameters, the strategies with family and availability."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from parbench import registry
from parbench.strategies.base import START_METHODS

NAME = "list"
HELP = "list workloads (with parameters) and strategies (family, availability and why not)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


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


def _print(info: dict[str, list[dict[str, Any]]]) -> None:
    console = Console()
    workloads = Table(title="Workloads", title_justify="left")
    for col in ("name", "origin", "parameters", "summary"):
        workloads.add_column(col, no_wrap=col != "summary")
    for w in info["workloads"]:
        params = "\n".join(f"{p['name']}={p['default']!r}" + (f" ({'|'.join(p['choices'])})" if p["choices"] else "")
                           for p in w["parameters"])
        workloads.add_row(w["name"], w["origin"], params, w["error"] or w["summary"])
    console.print(workloads)
    strategies = Table(title="Strategies", title_justify="left")
    for col in ("name", "family", "available", "start methods", "origin", "summary / reason"):
        strategies.add_column(col, no_wrap=col != "summary / reason")
    for s in info["strategies"]:
        mark = "[green]yes[/]" if s["available"] else "[red]no[/]"
        strategies.add_row(s["name"], s["family"] or "-", mark, " ".join(s["start_methods"]) or "-",
                           s["origin"], s["summary"] if s["available"] else s["reason"])
    console.print(strategies)


def main(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        _print(info)
    return 0
