"""Error types that decide how the CLI ends.

UserError is bad input: one line on stderr, exit code 2, nothing written. StrategyError is a run that
went wrong at run time (a worker raised or died): one line, exit 1. WorkerDied is the crash kind of it
(a worker killed or gone without a word), recorded as CRASHED rather than ERROR. Anything else is a bug.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input from the user: shown as one line, exit code 2. The Python API raises the same errors (the
    subclasses below say which kind), with the message the CLI prints."""


class UnknownName(UserError):
    """No workload or strategy of that name (built in or a plugin)."""


class BadValue(UserError):
    """A workload parameter, strategy option or count that is not valid."""


class BadSpec(UserError):
    """A sweep spec (preset, TOML file, flags or API arguments) that cannot be planned."""


class RunFolderError(UserError):
    """A run or results folder that cannot be read, written, resumed or reported."""


class CannotRunHere(UserError):
    """The strategy cannot run on this machine (missing package, start method, ...): the reason is the message."""


class StrategyError(RuntimeError):
    """A strategy failed while running: a worker raised, died or never answered."""


class WorkerDied(StrategyError):
    """A worker process died (killed by a signal, or exited without reporting): the cell crashed."""


class Unavailable(StrategyError):
    """A strategy cannot run here (missing package, start method, no room); the reason is the message."""
