"""Workloads: closed-form expected results agree with brute force, and tasks tile the input exactly."""

import itertools

import numpy as np
import pytest

from parbench.workloads.array_sum import ArraySum
from parbench.workloads.base import Task, split_range
from parbench.workloads.delayed_square import DelayedSquare


@pytest.mark.parametrize("size", [1, 2, 7, 1000, 10_001])
@pytest.mark.parametrize("fill", ["arange", "ones"])
def test_array_sum_expected_matches_numpy(size: int, fill: str) -> None:
    """n(n-1)/2 for arange and n for ones equal the sum numpy computes over the actual input."""
    workload = ArraySum.from_params({"size": size, "fill": fill})
    assert workload.expected() == int(workload.make_input().sum())


def test_course_values() -> None:
    """The course's figures: sum of range(10**6) and delayed_square over range(8)."""
    assert ArraySum.from_params({"size": 10**6}).expected() == 499_999_500_000
    assert DelayedSquare.from_params({"size": 8}).expected() == 140


@pytest.mark.parametrize("kernel", ["python", "numpy"])
def test_kernels_agree_on_every_slice(kernel: str) -> None:
    """Both kernels give the exact sum of each task's slice, and the partials combine to the total."""
    workload = ArraySum.from_params({"size": 10_001, "kernel": kernel})
    data = workload.make_input()
    partials = [workload.kernel(workload.chunk(data, t), t) for t in workload.tasks(3)]
    assert partials == [int(data[t.lo:t.hi].sum()) for t in workload.tasks(3)]
    assert workload.combine(partials) == workload.expected()


def test_delayed_square_brute_force() -> None:
    """The closed form (n-1)n(2n-1)/6 equals summing the kernel over one task per item."""
    workload = DelayedSquare.from_params({"size": 13, "delay": 0})
    assert workload.combine(workload.kernel(None, t) for t in workload.tasks(4)) == workload.expected()
    assert workload.expected() == sum(x * x for x in range(13))


@pytest.mark.parametrize(("size", "parts"), [(10, 3), (3, 8), (1, 1), (10**6, 7)])
def test_split_range_tiles_without_gaps(size: int, parts: int) -> None:
    """Tasks are contiguous, non-empty, cover range(size) and differ in length by at most one."""
    tasks = split_range(size, parts)
    assert tasks[0].lo == 0 and tasks[-1].hi == size
    assert all(a.hi == b.lo for a, b in itertools.pairwise(tasks))
    lengths = [t.hi - t.lo for t in tasks]
    assert min(lengths) >= 1 and max(lengths) - min(lengths) <= 1


def test_task_split_into_batches() -> None:
    """A task splits into batch-sized sub-tasks covering the same range; batch 0 keeps it whole."""
    task = Task(0, 10, 25)
    assert [(t.lo, t.hi) for t in task.split(4)] == [(10, 14), (14, 18), (18, 22), (22, 25)]
    assert task.split(0) == [task]


def test_workload_pickles_as_its_parameters() -> None:
    """A workload is its validated parameters: equal params give equal (hence picklable, comparable) objects."""
    import pickle

    workload = ArraySum.from_params({"size": "1e3", "kernel": "numpy"})
    assert pickle.loads(pickle.dumps(workload)) == workload
    assert workload.params() == {"size": 1000, "kernel": "numpy", "fill": "arange"}
    assert np.array_equal(workload.make_input(), np.arange(1000))


def test_python_kernel_accepts_an_unaligned_buffer() -> None:
    """An int64 array at an odd byte offset (as dask delivers) still sums exactly with the python kernel."""
    buffer = bytearray(8 * 11 + 1)
    chunk = np.frombuffer(buffer, dtype=np.int64, offset=1, count=11)
    chunk[:] = np.arange(11)
    assert not chunk.flags.aligned
    assert ArraySum(size=11).kernel(chunk, Task(0, 0, 11)) == 55
