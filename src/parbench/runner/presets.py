"""Built-in sweeps, written as TOML-shaped layers (see runner.spec): `--preset quick|default|full`.

Strategy names a preset lists but this installation does not register (a plugin not installed, or a
strategy merged later) are skipped with a one-line note; a family (`processes`, or `family:threads` where
a strategy has the family's name) takes every registered member except
the ones that run only when named (value-nolock: its WRONG result is the point of it, not a finding).
"""

from __future__ import annotations

from typing import Any

LOCAL = ["sequential", "threads", "thread-pool", "process-pipe", "process-queue", "value-lock", "manager",
         "mp-array", "shared-array", "shared-memory", "pool-map", "process-pool-executor"]
PEERS = ["joblib", "mpire", "dask", "dispy", "ray", "mpi", "mpi-pickle"]

PRESETS: dict[str, dict[str, Any]] = {
    # A smoke run of everything local, under a minute on two cores: small inputs, few repeats. Every repeat is
    # paired with a sequential reference in its probe (runner.measure), so two visits of seven pairs each give a
    # speedup its CI; more visits would mostly pay probe start-ups (see README: how a speedup is measured).
    "quick": {
        "workloads": ["array-sum", "delayed-square"],
        "strategies": LOCAL,
        "workers": [1, 2],
        "repeat": 7,
        "warmup": 1,
        "rounds": 2,
        "timeout": 60,
        "params": {"array-sum": {"size": [10_000, 100_000], "kernel": ["python"]},
                   "delayed-square": {"size": [4, 8], "delay": [0.002]}},
    },
    # The main job: both kernels across three decades of array size, the course's delayed squares,
    # every strategy up to the usable CPUs. One visit of four pairs per cell and 5 ms sleeps: with the
    # reference paired in every repeat and the engines (ray's start alone is ~5 s a cell), one visit of five
    # pairs with 10 ms sleeps took 11.4 min on two cores (measured), over the 10 min budget.
    "default": {
        "workloads": ["array-sum", "delayed-square"],
        "strategies": LOCAL + PEERS,
        "workers": "1..max",
        "repeat": 4,
        "warmup": 1,
        "rounds": 1,
        "timeout": 300,
        "params": {"array-sum": {"size": [100_000, 1_000_000, 10_000_000], "kernel": ["python", "numpy"]},
                   "delayed-square": {"size": [8, 32], "delay": [0.005]}},
    },
    # The GIL story (README: Beyond the GIL): every interpreter found here (3.11+, free-threaded builds with the GIL
    # on and off) on the pure-Python kernel, threads vs subinterpreters vs processes. Each interpreter's environment
    # is built once (about 40 s each); then a few minutes on two cores.
    "gil": {
        "workloads": ["array-sum"],
        "strategies": ["sequential", "threads", "subinterpreters", "pool-map", "shared-memory", "process-pipe"],
        "workers": "1..max",
        "pythons": "found",
        "gil": ["on", "off"],
        "repeat": 5,
        "warmup": 1,
        "rounds": 2,
        "timeout": 120,
        "params": {"array-sum": {"size": [1_000_000], "kernel": ["python"]}},
    },
    # Everything: every family, every start method, sizes up to 10^8. Hours on a small machine.
    "full": {
        "workloads": ["array-sum", "delayed-square"],
        "strategies": ["sequential", "family:threads", "interpreters", "processes", "distributed"],
        "workers": "1..max",
        "start-methods": ["fork", "spawn", "forkserver"],
        "repeat": 5,
        "warmup": 1,
        "rounds": 3,
        "timeout": 900,
        "params": {"array-sum": {"size": [10_000, 100_000, 1_000_000, 10_000_000, 100_000_000],
                                 "kernel": ["python", "numpy"]},
                   "delayed-square": {"size": [8, 32, 128], "delay": [0.001, 0.01]}},
    },
}
