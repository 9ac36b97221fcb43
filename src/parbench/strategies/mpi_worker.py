"""The MPI ranks that the `mpi` and `mpi-pickle` strategies drive: `mpiexec -n W python -m mpi4py -m
parbench.strategies.mpi_worker HOST PORT`.

Rank 0 is the root, as in an MPI program: it connects back to the probe (an authenticated
multiprocessing.connection; the key comes in the environment, never on the command line), receives the job
(the workload and whether to pickle), builds the input itself (untimed, as the probe builds it for the other
strategies) and then, for each "run" the probe sends, scatters each rank's slice (buffer-based `Scatterv`, or
the pickle-based lowercase `scatter`), reports "scattered", computes its own share and reduces every rank's
partial (`Reduce` of an int64, or pickle-based `reduce`), and sends the total. Every rank computes a share.
`python -m mpi4py` aborts the whole job when any rank raises, so no rank waits forever in a collective.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from multiprocessing.connection import Client, Connection
from typing import Any

import numpy as np
from mpi4py import MPI

from parbench.strategies.base import compute_share
from parbench.strategies.mpi_ranks import KEY_ENV, no_delay
from parbench.workloads.base import Task, Workload, split_range


@dataclass(frozen=True)
class Share:
    """What one rank computes: its tasks and the part of the input they read."""

    tasks: list[Task]
    lo: int
    hi: int


def shares(workload: Workload, ranks: int) -> list[Share]:
    """The tasks in `ranks` contiguous groups (as Context.shares), with the input range each group reads."""
    tasks = workload.tasks(ranks)
    groups = [tasks[g.lo : g.hi] for g in split_range(len(tasks), ranks)]
    groups += [[] for _ in range(ranks - len(groups))]  # fewer tasks than ranks: the last ranks idle
    return [Share(g, g[0].lo, g[-1].hi) if g else Share([], 0, 0) for g in groups]


class Rank:
    """One rank's side of the job."""

    def __init__(self, comm: Any, workload: Workload, pickled: bool) -> None:
        self.comm, self.workload, self.pickled = comm, workload, pickled
        self.root = comm.Get_rank() == 0
        self.layout = shares(workload, comm.Get_size())
        self.mine = self.layout[comm.Get_rank()]
        self.data = workload.make_input() if self.root else None
        # Every rank learns whether there is an input, and its dtype, to size its receive buffer.
        self.dtype: str | None = comm.bcast(None if self.data is None else self.data.dtype.str, root=0)

    def scatter(self) -> np.ndarray | None:
        if self.dtype is None:
            return None  # nothing to ship: every rank knows its tasks
        if self.pickled:
            parts = [self.data[s.lo : s.hi] for s in self.layout] if self.data is not None else None
            return self.comm.scatter(parts, root=0)  # type: ignore[no-any-return]
        window = np.empty(self.mine.hi - self.mine.lo, dtype=np.dtype(self.dtype))
        counts = [s.hi - s.lo for s in self.layout]
        displs = [s.lo for s in self.layout]
        self.comm.Scatterv([self.data, counts, displs, MPI.Datatype.fromcode(window.dtype.char)]
                           if self.root else None, window, root=0)
        return window

    def compute(self, window: np.ndarray | None) -> int:
        if not self.mine.tasks:
            return 0
        return int(compute_share(self.workload, window, self.mine.lo, self.mine.tasks))  # int64 workloads only

    def reduce(self, partial: int) -> int | None:
        if self.pickled:
            return self.comm.reduce(partial, op=MPI.SUM, root=0)  # type: ignore[no-any-return]
        total = np.zeros(1, dtype=np.int64)
        self.comm.Reduce(np.array([partial], dtype=np.int64), total, op=MPI.SUM, root=0)
        return int(total[0]) if self.root else None


def serve(comm: Any, conn: Connection | None) -> None:
    """Receive the job, then answer "run" commands until "stop"."""
    job = conn.recv() if conn is not None else None
    workload, pickled = comm.bcast(job, root=0)
    rank = Rank(comm, workload, pickled)
    if conn is not None:
        conn.send(("ready", comm.Get_size()))
    while comm.bcast(conn.recv() if conn is not None else None, root=0) == "run":
        window = rank.scatter()
        if conn is not None:
            conn.send(("scattered", None))
        total = rank.reduce(rank.compute(window))
        if conn is not None:
            conn.send(("result", total))


def main(argv: list[str]) -> int:
    comm = MPI.COMM_WORLD
    conn = None
    if comm.Get_rank() == 0:
        conn = Client((argv[0], int(argv[1])), authkey=bytes.fromhex(os.environ.pop(KEY_ENV)))
        no_delay(conn.fileno())
    try:
        serve(comm, conn)
    except BaseException as exc:
        if conn is not None:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        if conn is not None:
            conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
