"""What commands share: the flags of commands that name cells (`run`, `sweep`): workload parameters and
strategy options; and the console they print tables on."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from parbench.errors import UserError

if TYPE_CHECKING:
    from rich.console import Console

# Columns a console gets when its stream is not a terminal (a log, a pipe, a CI job).
LOG_WIDTH = 160

# Dedicated flags for the built-in parameters and options; anything else goes through --param/--option.
PARAM_FLAGS: tuple[tuple[str, str], ...] = (
    ("size", "number of elements or items (1e6, 10_000_000 and 2**20 are accepted)"),
    ("kernel", "array-sum kernel: python (plain loop, holds the GIL) or numpy (vectorised)"),
    ("fill", "array-sum input: arange (0..size-1) or ones"),
    ("delay", "delayed-square: seconds slept per item"),
)
OPTION_FLAGS: tuple[tuple[str, str], ...] = (
    ("chunksize", "pool-map / process-pool-executor: tasks per message to a worker"),
    ("batch", "value-lock / value-nolock: items per shared update"),
    ("dispy_nodes", "dispy: host[:port],... of running dispynodes (default: start nodes on 127.0.0.1)"),
    ("dispy_secret_file", "dispy: file holding the secret of --dispy-nodes"),
    ("dispy_host", "dispy: address this client listens on, reachable from the nodes"),
    ("dispy_port", "dispy: TCP port this client listens on for results (default: a free one)"),
    ("dask_scheduler", "dask: address of a running scheduler (default: start a LocalCluster)"),
    ("ray_address", "ray: HOST:PORT of a running Ray head (default: start Ray on this machine)"),
    ("mpi_hosts", "mpi / mpi-pickle: an MPI hostfile of the machines to run ranks on (default: this machine)"),
    ("cluster_timeout", "dispy / dask / ray / mpi: seconds to wait for nodes, workers or ranks, and for the next "
                        "job (default: 60)"),
)


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip().replace("-", "_"), value.strip()


def add_param_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("workload parameters")
    for name, help_text in PARAM_FLAGS:
        group.add_argument(f"--{name}", help=help_text)
    group.add_argument("--param", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                       help="any other workload parameter (plugins); repeatable")


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("strategy options")
    for name, help_text in OPTION_FLAGS:
        group.add_argument(f"--{name.replace('_', '-')}", dest=name, help=help_text)
    group.add_argument("-o", "--option", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                       help="any other strategy option (plugins); repeatable")


def add_function_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("a plain function as the workload (parbench.function_workload)")
    group.add_argument("--function", metavar="MODULE:FN", help="measure FN(x) for every input, summed: "
                       "pkg.mod:fn (modules in the current folder import too)")
    group.add_argument("--inputs", metavar="MODULE:NAME", help="--function's inputs: a callable returning them, or "
                                                               "an iterable")
    group.add_argument("--items", metavar="N", help="--function's inputs are range(N)")
    group.add_argument("--rtol", metavar="X", help="--function's results match within this relative tolerance "
                                                   "(math.isclose / numpy.allclose; default: exactly)")
    group.add_argument("--items-per-task", dest="items_per_task", metavar="N",
                       help="--function's inputs per task (default: 1)")


def function_from(args: argparse.Namespace) -> str | None:
    """The name of the function workload the flags describe, registered (None without --function)."""
    given = [f"--{f.replace('_', '-')}" for f in ("inputs", "items", "rtol", "items_per_task")
             if getattr(args, f) is not None]
    if args.function is None:
        if given:
            raise UserError(f"{given[0]} goes with --function MODULE:FN")
        return None
    from parbench import registry
    from parbench.workloads.function import function_from_references

    workload = function_from_references(args.function, args.inputs, args.items, rtol=args.rtol,
                                        chunksize=args.items_per_task)
    return registry.register_workload(workload)


def _collect(args: argparse.Namespace, flags: tuple[tuple[str, str], ...], extra: list[tuple[str, str]],
             what: str) -> dict[str, Any]:
    found: dict[str, Any] = {name: getattr(args, name) for name, _ in flags if getattr(args, name) is not None}
    for key, value in extra:
        if key in found:
            raise UserError(f"{what} {key!r} given twice")
        found[key] = value
    return found


def params_from(args: argparse.Namespace) -> dict[str, Any]:
    return _collect(args, PARAM_FLAGS, args.param, "parameter")


def options_from(args: argparse.Namespace) -> dict[str, Any]:
    return _collect(args, OPTION_FLAGS, args.option, "option")


def wide_console(stderr: bool = False) -> Console:
    """A rich console; when the stream is not a terminal, wide enough for cell labels and tables not to wrap."""
    from rich.console import Console

    console = Console(highlight=False, stderr=stderr)
    return console if console.is_terminal else Console(highlight=False, stderr=stderr,
                                                       width=max(console.width, LOG_WIDTH))
