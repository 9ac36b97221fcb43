"""Plain functions as workloads: `fn(x)` for every input, the partials combined, checked against the sequential answer.

How a function travels. `function_workload()` runs it once, sequentially, in the driver (that is the exact
answer), then cloudpickles what it was given (the function, the inputs, `combine`, `rtol` and that answer)
into a content-addressed file, `<functions dir>/<sha>.pkl`. A cell's only parameter is that hash, so the
sweep's probes (a fresh interpreter or a forked server), and every worker a strategy starts under fork, spawn
or forkserver, load the same file once and run the same function. cloudpickle ships a function defined in
`__main__` or a notebook cell by value; an importable one (`pkg.mod:fn`) by reference, with the driver's
`sys.path` recorded beside it so that a probe started elsewhere imports it too.

The functions directory is `$PARBENCH_FUNCTIONS`, else `$XDG_CACHE_HOME/parbench/functions` (`~/.cache/...`):
the same function, inputs and answer give the same hash, so a cell keeps its key (resume, compare) across runs.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np

from parbench.errors import BadValue, StrategyError
from parbench.params import Param, parse_float, parse_int, resolve
from parbench.workloads.base import BaseWorkload, Task, Work
from parbench.workloads.shipping import Shipped, import_reference, load_shipped, ship

# The one parameter a function workload's cells carry: the hash of its shipped definition.
FUNCTION_PARAM = "function"
# A name becomes a cell's workload name and a table value: keep it plain.
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
# --items beyond this is a typo (every input is a task, pickled to its worker).
MAX_ITEMS = 10_000_000
_INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True, eq=False)
class FunctionWorkload(BaseWorkload):
    """A shipped function over its inputs; one subclass per name (function_class), its instances one hash each."""

    name: ClassVar[str] = "function"
    summary: ClassVar[str] = "a plain Python function over a list of inputs (parbench.function_workload)"
    parameters: ClassVar[tuple[Param, ...]] = ()

    function: str  # the hash of the shipped definition

    @classmethod
    def from_params(cls, raw: Mapping[str, object]) -> Self:
        return cls(resolve(cls.parameters, raw, cls.name)[FUNCTION_PARAM])

    def __eq__(self, other: object) -> bool:  # by name and hash: the class is made per process (function_class)
        return isinstance(other, FunctionWorkload) and other.name == self.name and other.function == self.function

    def __hash__(self) -> int:
        return hash((self.name, self.function))

    def __repr__(self) -> str:
        return f"function_workload({self.name}, {self.function})"

    def __reduce__(self) -> tuple[Callable[[str, str], FunctionWorkload], tuple[str, str]]:
        # The class is made at run time (one per name): a worker rebuilds it from the name, and loads the
        # definition from the functions directory by its hash, once per process.
        return _rebuild, (self.name, self.function)

    @property
    def shipped(self) -> Shipped:
        return load_shipped(self.function)

    def params(self) -> dict[str, Any]:
        return {FUNCTION_PARAM: self.function}

    def make_input(self) -> np.ndarray:
        return as_array(self.shipped.inputs)

    def tasks(self, workers: int) -> list[Task]:
        # Like the course's Pool.map: a fixed number of items per task whatever the workers; pools balance them.
        size, step = len(self.shipped.inputs), self.shipped.chunksize
        return [Task(i, lo, min(lo + step, size)) for i, lo in enumerate(range(0, size, step))]

    def kernel(self, chunk: np.ndarray | None, task: Task) -> Any:
        shipped = self.shipped
        items = [] if chunk is None else chunk.tolist()  # Python ints and objects, never numpy scalars
        try:
            return shipped.combine([shipped.fn(x) for x in items])
        except Exception as exc:  # the user's code failed: the cell is ERROR with this line, wherever it ran
            raise StrategyError(f"function workload {self.name!r} raised {type(exc).__name__}: {exc}") from None

    def combine(self, partials: Iterable[Any]) -> Any:
        return self.shipped.combine(partials)

    def expected(self) -> Any:
        return self.shipped.expected

    def matches(self, result: Any, expected: Any) -> bool:
        """== by default; with rtol, math.isclose for numbers and numpy.allclose for arrays."""
        return results_match(result, expected, self.shipped.rtol)

    def work(self) -> Work:
        """For the sweep's estimate: one python step per input (what fn costs, nobody knows before measuring)."""
        return Work(len(self.shipped.inputs))

    def int64_input(self) -> bool:
        return self.make_input().dtype == np.int64

    def int_results(self) -> bool:
        return type(self.shipped.expected) is int and _INT64[0] <= self.shipped.expected <= _INT64[1]


def _rebuild(name: str, function: str) -> FunctionWorkload:
    return function_class(name, function)(function)


@functools.cache
def function_class(name: str, function: str = "") -> type[FunctionWorkload]:
    """The workload class of one function name; `function` (a hash) is its parameter's default, so a sweep
    that names the workload without parameters measures that definition."""
    param = Param(FUNCTION_PARAM, str, function, "the hash of the shipped definition (parbench.function_workload)")
    return type(f"FunctionWorkload[{name}]", (FunctionWorkload,), {
        "name": name, "__module__": __name__, "parameters": (param,),
        "summary": f"function workload {name} (parbench.function_workload)"})


def function_workload(fn: Callable[[Any], Any], inputs: Iterable[Any], *, combine: Callable[[Iterable[Any]], Any] = sum,
                      name: str | None = None, rtol: float | None = None, chunksize: int | None = None,
                      ) -> FunctionWorkload:
    """`fn(x)` for every x of `inputs`, one task per input (or per `chunksize` inputs), the partials combined
    with `combine`; the exact answer is the sequential result, computed here once. Results of any picklable
    type are compared with ==, or with `rtol` (math.isclose for numbers, numpy.allclose for arrays)."""
    label = _checked_name(name if name is not None else getattr(fn, "__name__", ""), fn)
    if not callable(fn) or not callable(combine):
        raise BadValue(f"function workload {label!r}: fn and combine must be callables")
    items = tuple(inputs)
    step = _checked_chunksize(chunksize, label)
    if not items:
        raise BadValue(f"function workload {label!r}: inputs are empty")
    if rtol is not None and not (isinstance(rtol, int | float) and math.isfinite(rtol) and rtol >= 0):
        raise BadValue(f"function workload {label!r}: rtol must be a finite number >= 0, got {rtol!r}")
    expected = _sequential(fn, items, combine, step, label)
    digest = ship(Shipped(label, fn, items, combine, step, None if rtol is None else float(rtol), expected))
    return function_class(label, digest)(digest)


def function_from_references(function: str, inputs: str | None = None, items: object = None, *,
                              rtol: object = None, chunksize: object = None) -> FunctionWorkload:
    """The command line's function workload: `--function pkg.mod:fn` over `--inputs pkg.mod:NAME` (a callable
    returning the inputs, or an iterable) or `--items N` (range(N))."""
    if (inputs is None) == (items is None):
        raise BadValue("--function needs its inputs: --inputs MODULE:NAME or --items N (one of them)")
    fn = import_reference(function, "--function")
    if not callable(fn):
        raise BadValue(f"--function {function}: {type(fn).__name__} object is not callable")
    if inputs is not None:
        found = import_reference(inputs, "--inputs")
        values = found() if callable(found) else found
        if not isinstance(values, Iterable):
            raise BadValue(f"--inputs {inputs}: {type(values).__name__} object is not iterable")
    else:
        count = parse_int(items, "--items")
        if not 1 <= count <= MAX_ITEMS:
            raise BadValue(f"--items must be between 1 and {MAX_ITEMS}, got {count}")
        values = range(count)
    tolerance = None if rtol is None else parse_float(rtol, "--rtol")
    return function_workload(fn, values, rtol=tolerance, chunksize=None if chunksize is None else
                             parse_int(chunksize, "--items-per-task"))


def _checked_name(name: str, fn: object) -> str:
    if not _NAME.fullmatch(name):
        raise BadValue(f"function workload name {name!r} (of {fn!r}): use letters, digits, _ . - (pass name=...)")
    return name


def _checked_chunksize(chunksize: int | None, label: str) -> int:
    step = 1 if chunksize is None else parse_int(chunksize, f"function workload {label!r}: chunksize")
    if step < 1:
        raise BadValue(f"function workload {label!r}: chunksize must be >= 1, got {step}")
    return step


def _sequential(fn: Callable[[Any], Any], items: tuple[Any, ...], combine: Callable[[Iterable[Any]], Any],
                step: int, label: str) -> Any:
    """What `sequential` computes: the chunks' partials in order, combined."""
    values = as_array(items).tolist()
    try:
        return combine(combine(fn(x) for x in values[lo: lo + step]) for lo in range(0, len(values), step))
    except Exception as exc:
        raise BadValue(f"function workload {label!r}: the sequential run raised {type(exc).__name__}: {exc}"
                        ) from exc


def results_match(result: Any, expected: Any, rtol: float | None) -> bool:
    try:
        if isinstance(result, np.ndarray) or isinstance(expected, np.ndarray):
            if rtol is None:
                return bool(np.array_equal(result, expected))
            return bool(np.allclose(result, expected, rtol=rtol, atol=0.0))
        if rtol is not None and _number(result) and _number(expected):
            return math.isclose(result, expected, rel_tol=rtol)
        return bool(result == expected)
    except (TypeError, ValueError):
        return False  # results that cannot even be compared are not the answer


def _number(value: Any) -> bool:
    return isinstance(value, int | float | complex | np.number) and not isinstance(value, bool)


def as_array(items: tuple[Any, ...]) -> np.ndarray:
    """int64 when every item is an int64-sized int (every strategy can move that), else an object array."""
    if all(type(x) is int and _INT64[0] <= x <= _INT64[1] for x in items):
        return np.array(items, dtype=np.int64)
    array = np.empty(len(items), dtype=object)
    array[:] = list(items)  # element by element: tuples stay items, not rows of a 2-D array
    return array
