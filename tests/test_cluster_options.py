"""The cluster strategies without daemons: listing, missing packages, node addresses, CPU splits."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import run_cli
from parbench.errors import UserError
from parbench.registry import get_strategy
from parbench.strategies.dispy_nodes import NodeAddress, parse_nodes, split_cpus, spread

PACKAGES = {"dispy": "dispy", "dask": "distributed", "joblib": "joblib"}


def test_list_shows_the_cluster_strategies_available() -> None:
    """`parbench list --json` has dispy and dask (distributed) and joblib (processes), all available here."""
    result = run_cli(["list", "--json"])
    assert result.rc == 0, result.err
    found = {s["name"]: s for s in json.loads(result.out)["strategies"]}
    families = {name: (found[name]["family"], found[name]["available"]) for name in PACKAGES}
    assert families == {"dispy": ("distributed", True), "dask": ("distributed", True), "joblib": ("processes", True)}
    assert all(found[name]["start_methods"] == [] for name in PACKAGES)


@pytest.mark.parametrize("strategy", sorted(PACKAGES))
def test_missing_package_gives_the_install_hint(strategy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With its package not importable, a cluster strategy is unavailable and says what to install."""
    monkeypatch.setitem(sys.modules, PACKAGES[strategy], None)  # how Python marks a module as not importable
    reason = get_strategy(strategy).available()
    assert reason is not None
    assert "not installed" in reason and "pip install" in reason


@pytest.mark.parametrize("strategy", sorted(PACKAGES))
def test_start_methods_do_not_apply(strategy: str) -> None:
    """dispy, dask and joblib start their own processes: asking for a start method is refused with a reason."""
    assert "start methods do not apply" in (get_strategy(strategy).available("spawn") or "")


def test_node_addresses_parse_with_dispynodes_default_port() -> None:
    """`host[:port],...` parses; a missing port is dispynode's 9701."""
    assert parse_nodes("10.0.0.1, node2:9800") == [NodeAddress("10.0.0.1", 9701), NodeAddress("node2", 9800)]


@pytest.mark.parametrize("text", ["", "a:", "a:b", "a:70000", "a,,b", "a:1:2"])
def test_bad_node_addresses_are_user_errors(text: str) -> None:
    """A malformed --dispy-nodes is a UserError naming the bad part."""
    with pytest.raises(UserError, match="dispy nodes"):
        parse_nodes(text)


@pytest.mark.parametrize(("workers", "cpus", "nodes"), [(1, 2, [1]), (2, 2, [2]), (3, 2, [1, 2]), (5, 2, [1, 2, 2]),
                                                       (8, 4, [4, 4])])
def test_local_nodes_split_workers_by_usable_cpus(workers: int, cpus: int, nodes: list[int]) -> None:
    """One embedded node per `cpus` workers (dispynode serves at most the machine's CPUs), spread evenly."""
    assert split_cpus(workers, cpus) == nodes
    assert sum(spread(workers, len(nodes))) == workers
