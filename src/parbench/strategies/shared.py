"""The shared-memory family: the input lives in shared memory once, workers read it in place.

mp-array (multiprocessing RawArray / Array), shared-array (the SharedArray package, segments in /dev/shm)
and shared-memory (stdlib multiprocessing.shared_memory). Setup copies the input into the segment once;
each run starts a Process per worker that reads its slice in place and writes its partial into a
result slot: nothing is pickled or copied per run but task bounds.
"""

from __future__ import annotations

import contextlib
import multiprocessing.connection
import shutil
from multiprocessing import shared_memory
from typing import Any, ClassVar

import numpy as np

from parbench.errors import Unavailable
from parbench.segments import SHM_DIR, segment_name
from parbench.strategies.base import Crew, InputTravel, PhaseClock, ProcessStrategy, SetupStarts, compute_share
from parbench.workloads.base import Task, Workload

_INT64 = np.dtype(np.int64)


def _check_room(nbytes: int) -> None:
    free = shutil.disk_usage(SHM_DIR).free
    if nbytes > free:
        raise Unavailable(f"no room in {SHM_DIR}: need {nbytes / 2**20:.0f} MiB, {free / 2**20:.0f} MiB free")


def _shm_unavailable() -> str | None:
    return None if SHM_DIR.is_dir() else f"{SHM_DIR} does not exist on this system"


class _SharedInput(ProcessStrategy):
    """Per run: a Process per worker, the crew reads in place and fills `slots`; the gather sums them."""

    processes_per_run: ClassVar[bool] = True
    input_travel: ClassVar[InputTravel] = "in-place"
    setup_starts: ClassVar[SetupStarts] = "nothing"
    int64_input: ClassVar[bool] = True  # the input lives in an int64 segment
    int64_partials: ClassVar[bool] = True  # and the partials in int64 slots

    def run(self, clock: PhaseClock) -> Any:
        clock.mark("spawn")
        shares = self.ctx.shares()
        self.reset_slots()  # a worker that never writes its slot must not pass off an earlier run's partial
        with Crew(self.ctx.mp(), self.worker(), [self.worker_args(i, t) for i, t in enumerate(shares)]) as crew:
            crew.start()
            clock.mark("compute")
            crew.wait()
            clock.mark("gather")
            return self.ctx.workload.combine(int(v) for v in self.slots()[: len(shares)])

    def worker(self) -> Any:
        raise NotImplementedError

    def worker_args(self, index: int, tasks: list[Task]) -> tuple[Any, ...]:
        raise NotImplementedError

    def slots(self) -> Any:
        raise NotImplementedError

    def reset_slots(self) -> None:
        raise NotImplementedError


def _mp_array_worker(conn: multiprocessing.connection.Connection, workload: Workload, data: Any, tasks: list[Task],
                     index: int, slots: Any) -> None:
    view = None if data is None else np.frombuffer(data, dtype=np.int64)
    slots[index] = compute_share(workload, view, 0, tasks)


class MpArray(_SharedInput):
    """Input in a multiprocessing RawArray made in setup; partials in an Array(lock=False) of slots."""

    name: ClassVar[str] = "mp-array"
    summary: ClassVar[str] = "input in a multiprocessing RawArray (set up once); partials in Array(lock=False) slots"

    def setup(self) -> None:
        mp, data = self.ctx.mp(), self.ctx.data
        self.data: Any = None
        if data is not None:
            self.data = mp.RawArray("q", len(data))
            np.frombuffer(self.data, dtype=np.int64)[:] = data
        self.result = mp.Array("q", self.ctx.workers, lock=False)

    def worker(self) -> Any:
        return _mp_array_worker

    def worker_args(self, index: int, tasks: list[Task]) -> tuple[Any, ...]:
        return (self.ctx.workload, self.data, tasks, index, self.result)

    def slots(self) -> Any:
        return self.result[:]

    def reset_slots(self) -> None:
        self.result[:] = [0] * len(self.result)


def _shared_array_worker(conn: multiprocessing.connection.Connection, workload: Workload, in_name: str | None,
                         out_name: str, tasks: list[Task], index: int) -> None:
    import SharedArray as sa

    data = sa.attach(f"shm://{in_name}", ro=True) if in_name else None
    out = sa.attach(f"shm://{out_name}")
    out[index] = compute_share(workload, data, 0, tasks)


class SharedArrayStrategy(_SharedInput):
    """Input in a SharedArray segment in /dev/shm made in setup; workers attach it by name (the course)."""

    name: ClassVar[str] = "shared-array"
    summary: ClassVar[str] = "input in a SharedArray /dev/shm segment (set up once); workers attach it by name"

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        try:
            import SharedArray  # noqa: F401
        except ImportError:
            return "the SharedArray package is not installed (pip install SharedArray)"
        return _shm_unavailable() or super().available(start_method)

    def setup(self) -> None:
        import SharedArray as sa

        data = self.ctx.data
        _check_room((0 if data is None else data.nbytes) + self.ctx.workers * 8)
        self.names: list[str] = []
        self.in_name = None
        if data is not None:
            self.in_name, segment = self._create(sa, "in", data.shape)
            segment[:] = data
            del segment
        self.out_name, self.out = self._create(sa, "out", (self.ctx.workers,))

    def _create(self, sa: Any, tag: str, shape: tuple[int, ...]) -> tuple[str, np.ndarray]:
        name = segment_name(tag)
        self.names.append(name)  # recorded first, so teardown deletes it whatever fails next
        return name, sa.create(f"shm://{name}", shape, dtype=np.int64)

    def worker(self) -> Any:
        return _shared_array_worker

    def worker_args(self, index: int, tasks: list[Task]) -> tuple[Any, ...]:
        return (self.ctx.workload, self.in_name, self.out_name, tasks, index)

    def slots(self) -> Any:
        return self.out

    def reset_slots(self) -> None:
        self.out[:] = 0

    def teardown(self) -> None:
        import SharedArray as sa

        for name in getattr(self, "names", []):
            with contextlib.suppress(FileNotFoundError):  # never created: setup failed first
                sa.delete(f"shm://{name}")
        self.names = []


def _shared_memory_worker(conn: multiprocessing.connection.Connection, workload: Workload, name: str, size: int,
                          has_data: bool, tasks: list[Task], index: int) -> None:
    shm = shared_memory.SharedMemory(name=name)
    try:
        whole = np.ndarray((size + index + 1,), dtype=np.int64, buffer=shm.buf)
        whole[size + index] = compute_share(workload, whole[:size] if has_data else None, 0, tasks)
        del whole  # no array may outlive close(): it unmaps the memory under it (a later use segfaults)
    finally:
        shm.close()


class SharedMemoryStrategy(_SharedInput):
    """Input and result slots in one stdlib SharedMemory segment made in setup; workers attach by name."""

    name: ClassVar[str] = "shared-memory"
    summary: ClassVar[str] = "input and result slots in one stdlib SharedMemory segment; workers attach by name"

    @classmethod
    def available(cls, start_method: str | None = None) -> str | None:
        return _shm_unavailable() or super().available(start_method)

    def setup(self) -> None:
        data = self.ctx.data
        self.size = 0 if data is None else len(data)
        nbytes = (self.size + self.ctx.workers) * _INT64.itemsize
        _check_room(nbytes)
        self.shm = shared_memory.SharedMemory(name=segment_name("shm"), create=True, size=nbytes)
        if data is not None:
            np.ndarray((self.size,), dtype=np.int64, buffer=self.shm.buf)[:] = data

    def worker(self) -> Any:
        return _shared_memory_worker

    def worker_args(self, index: int, tasks: list[Task]) -> tuple[Any, ...]:
        return (self.ctx.workload, self.shm.name, self.size, self.ctx.data is not None, tasks, index)

    def slots(self) -> Any:
        return self._slot_array().tolist()

    def reset_slots(self) -> None:
        self._slot_array()[:] = 0

    def _slot_array(self) -> np.ndarray:
        return np.ndarray((self.ctx.workers,), dtype=np.int64, buffer=self.shm.buf, offset=self.size * _INT64.itemsize)

    def teardown(self) -> None:
        shm = getattr(self, "shm", None)
        if shm is not None:
            shm.close()
            shm.unlink()  # exactly once: the resource tracker warns otherwise
            del self.shm
