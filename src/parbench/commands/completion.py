"""`parbench completion bash|zsh`: print a shell completion script for every subcommand and flag (shtab).

Generated from the argument parser itself, so it never drifts from the CLI. Needs the `completion` extra.
"""

from __future__ import annotations

import argparse
import sys

from parbench.errors import UserError

NAME = "completion"
HELP = "print a bash or zsh completion script (eval or save it; see README: Shell completion)"
SHELLS = ("bash", "zsh")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete in")


def main(args: argparse.Namespace) -> int:
    try:
        import shtab
    except ImportError:
        raise UserError("shell completion needs shtab: pip install 'parbench[completion]'") from None
    from parbench.cli import build_parser

    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return 0
