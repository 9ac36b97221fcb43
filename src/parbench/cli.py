"""The `parbench` command line: one module per subcommand under parbench.commands, listed explicitly.

Exit codes: 0 done; 1 a measured result was WRONG or a run failed; 2 bad input (one line on stderr);
130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from parbench import __version__
from parbench.errors import StrategyError, UserError
from parbench.interrupts import exit_cleanly_on_sigterm

# Each module defines NAME, HELP, add_arguments(parser) and main(args) -> int.
COMMANDS: tuple[str, ...] = ("listing", "run", "sweep", "info", "report", "compare")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a UserError: one line, exit 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message}")


def build_parser() -> Parser:
    parser = Parser(prog="parbench", description="Which way of going parallel wins on your workload, "
                                                 "by how much, and why.")
    parser.add_argument("--version", action="version", version=f"parbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS:
        module = importlib.import_module(f"parbench.commands.{module_name}")
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(func=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    exit_cleanly_on_sigterm()
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except UserError as exc:
        print(f"parbench: error: {exc}", file=sys.stderr)
        return 2
    except StrategyError as exc:
        print(f"parbench: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("parbench: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        print(f"parbench: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 3
