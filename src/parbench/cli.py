"""The `parbench` command line: one module per subcommand under parbench.commands, listed explicitly.

Exit codes: EXIT_CODES (shown by --help and in the README's table).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from parbench import __version__
from parbench.errors import StrategyError, UserError
from parbench.interrupts import exit_cleanly_on_sigterm

# Each module defines NAME, HELP, add_arguments(parser) and main(args) -> int.
COMMANDS: tuple[str, ...] = ("listing", "run", "sweep", "info", "report", "compare", "completion")

# Every exit status parbench can end with; the README's table says the same (a test checks both).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "done: every measured result exact, no cell regressed"),
    (1, "a result was WRONG, a cell failed (CRASHED, TIMEOUT, ERROR), or compare found a regression"),
    (2, "bad input: one line on stderr, nothing written"),
    (3, "internal error of parbench (rerun with --debug for the traceback)"),
    (130, "interrupted by Ctrl-C (SIGINT); a sweep keeps its finished cells, --resume completes it"),
    (141, "stdout was closed early (e.g. piped into head): the output stops there"),
    (143, "terminated by SIGTERM; a sweep keeps its finished cells, --resume completes it"),
)
CLOSED_PIPE_EXIT = 141  # 128 + SIGPIPE, what a shell reports for a command that died writing to a closed pipe


def exit_codes_text() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:>3}  {meaning}" for code, meaning in EXIT_CODES)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is a UserError: one line, exit 2, like every other bad input."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message}")


def build_parser() -> Parser:
    parser = Parser(prog="parbench", description="Which way of going parallel wins on your workload, "
                                                 "by how much, and why.",
                    epilog=exit_codes_text(), formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"parbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMANDS:
        module = importlib.import_module(f"parbench.commands.{module_name}")
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        # Also after the subcommand; SUPPRESS keeps a --debug given before it from being reset to False.
        cmd.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help="show tracebacks of internal errors")
        cmd.set_defaults(func=module.main)
    return parser


def _quiet_closed_pipe() -> int:
    """The reader of stdout went away (`parbench info --json | head`): stop without a word, as CLIs do.
    stdout is pointed at /dev/null so that the interpreter's final flush does not complain again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return CLOSED_PIPE_EXIT


def main(argv: Sequence[str] | None = None) -> int:
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    exit_cleanly_on_sigterm()
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:  # --help, --version: printed; flushed here, where a closed pipe is caught
            sys.stdout.flush()
            raise
        status = int(args.func(args))
        sys.stdout.flush()  # here, where a closed pipe is caught, not at the interpreter's exit
        return status
    except UserError as exc:
        print(f"parbench: error: {exc}", file=sys.stderr)
        return 2
    except StrategyError as exc:
        print(f"parbench: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("parbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _quiet_closed_pipe()
    except Exception as exc:
        if debug:
            raise
        print(f"parbench: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 3
