"""parbench: benchmark ways of going parallel in Python, and learn which one wins, by how much, and why.

The API (parbench.api): `run(workload, strategy, ...)` measures one cell; `sweep(...)` plans, measures and
analyses a sweep and returns a `Run`; `open_run(path)` opens a finished one; a `Run` has `.meta`, `.frame`,
`.summary`, `.verdicts`, `.report()`, `.compare()` and shows itself in a notebook. Bad input raises a
`UserError` subclass with the CLI's one-line message. `load(run)` and `summarize(df)` are the frames alone.
pandas and scipy are imported only when needed, so `import parbench` (and `parbench list`) stays cheap.
"""

from __future__ import annotations

from parbench.api import Measured, Run, function_workload, load, open_run, resume, run, summarize, sweep
from parbench.errors import (
    BadSpec,
    BadValue,
    CannotRunHere,
    RunFolderError,
    StrategyError,
    UnknownName,
    UserError,
)
from parbench.version import __version__

__all__ = ["BadSpec", "BadValue", "CannotRunHere", "Measured", "Run", "RunFolderError", "StrategyError", "UnknownName",
           "UserError", "__version__", "function_workload", "load", "open_run", "resume", "run", "summarize", "sweep"]

