"""Which CPUs a cell is pinned to: as many as its workers, the least busy first, stable when idle."""

from parbench.results.schema import Cell
from parbench.runner.affinity import cpus_for
from parbench.runner.probe import ProbeRequest


def test_idle_machine_always_gets_the_lowest_cpus() -> None:
    """With no load known (or all equal) a cell takes the first usable CPUs, so runs stay comparable."""
    assert cpus_for(1, [0, 1, 2, 3]) == [0]
    assert cpus_for(2, [0, 1, 2, 3], busy={0: 5.0, 1: 5.0, 2: 5.0, 3: 5.0}) == [0, 1]


def test_busy_cpus_are_avoided() -> None:
    """A CPU saturated by someone else is left out when quieter ones exist."""
    assert cpus_for(1, [0, 1], busy={0: 97.0, 1: 3.0}) == [1]
    assert cpus_for(2, [0, 1, 2, 3], busy={0: 90.0, 1: 10.0, 2: 80.0, 3: 0.0}) == [1, 3]


def test_never_more_cpus_than_usable_nor_fewer_than_one() -> None:
    """Workers beyond the usable CPUs share them; a cell always gets at least one."""
    assert cpus_for(8, [2, 5]) == [2, 5]
    assert cpus_for(0, [2, 5]) == [2]


def test_probe_request_carries_the_drivers_choice() -> None:
    """The chosen CPUs travel to the probe and back through JSON; old requests without them still parse."""
    cell = Cell("array-sum", {"size": 10}, "sequential", 1)
    request = ProbeRequest(cell, 3, 1, (1,))
    assert ProbeRequest.from_dict(request.to_dict()) == request
    assert ProbeRequest.from_dict({"cell": cell.to_dict(), "repeat": 3, "warmup": 1}).cpus == ()
