"""Sweep plans: cells with their sequential baselines, shuffled by seed; unknown names skipped or refused."""

from __future__ import annotations

import pytest

from parbench.errors import UserError
from parbench.runner.estimate import estimate_cell, total_estimate
from parbench.runner.plan import make_plan, select_strategies
from parbench.runner.spec import ParamFlag, SweepSpec, build_spec


def _spec(seed: str = "1", **flags: str) -> object:
    return build_spec("quick", None, {"seed": seed, **flags})


def test_every_point_gets_a_sequential_baseline_even_when_not_asked() -> None:
    """Each (workload, parameters) point has exactly one sequential cell at one worker."""
    spec = build_spec("quick", None, {"strategies": "threads", "workers": "2", "rounds": "1"})
    plan = make_plan(spec)
    points = {(c.cell.workload, tuple(c.cell.params.items())) for c in plan.cells}
    baselines = [c for c in plan.cells if c.cell.strategy == "sequential"]
    assert len(baselines) == len(points) == 4
    assert all(c.cell.workers == 1 for c in baselines)
    assert len(plan.cells) == 8  # threads x2 and the baseline, at four points


def test_quick_plan_has_every_local_strategy_at_one_and_two_workers() -> None:
    """The quick plan measures 12 strategies x 2 worker counts (sequential once) at 4 points, in 2 rounds."""
    plan = make_plan(build_spec("quick", None, {}))
    assert len({c.cell.key() for c in plan.cells}) == 4 * (1 + 11 * 2)
    assert len(plan.cells) == 2 * 4 * (1 + 11 * 2)
    assert {c.cell.strategy for c in plan.cells} >= {"shared-array", "process-pool-executor", "manager"}
    assert "value-nolock" not in {c.cell.strategy for c in plan.cells}


def test_the_order_is_a_shuffle_fixed_by_the_seed() -> None:
    """The same seed gives the same order; another seed another order of the same cells."""
    first = [c.cell.key() for c in make_plan(build_spec("quick", None, {"seed": "1"})).cells]
    again = [c.cell.key() for c in make_plan(build_spec("quick", None, {"seed": "1"})).cells]
    other = [c.cell.key() for c in make_plan(build_spec("quick", None, {"seed": "2"})).cells]
    assert first == again
    assert first != other and sorted(first) == sorted(other)


def test_preset_names_not_registered_are_skipped_with_a_note() -> None:
    """A preset naming a strategy this installation lacks skips it with a one-line note."""
    names, notes = select_strategies(("threads", "no-such-strategy"), lenient=True)
    assert names == ["threads"]
    assert len(notes) == 1 and "no-such-strategy" in notes[0]


def test_user_names_not_registered_are_refused() -> None:
    """A strategy the user names but that does not exist is a UserError with a suggestion."""
    with pytest.raises(UserError, match="did you mean 'threads'"):
        make_plan(build_spec("quick", None, {"strategies": "threadz"}))


def test_families_leave_out_value_nolock_but_its_name_brings_it_in() -> None:
    """`processes` expands without value-nolock (its WRONG is deliberate); naming it includes it."""
    by_family, _ = select_strategies(("processes",), lenient=False)
    threads, _ = select_strategies(("family:threads",), lenient=False)
    by_name, _ = select_strategies(("value-nolock",), lenient=False)
    assert "value-lock" in by_family and "value-nolock" not in by_family
    assert by_name == ["value-nolock"]
    assert threads == ["threads", "thread-pool"]


def test_start_methods_multiply_process_strategies_only() -> None:
    """Two start methods double the process cells and leave thread cells alone."""
    spec = build_spec("quick", None, {"strategies": "threads,pool-map", "workers": "2",
                                      "start-methods": "fork,spawn"}, [ParamFlag("--sizes", "size", ("1000",))])
    cells = [c.cell for c in make_plan(spec).cells if c.cell.workload == "array-sum" and c.visit == 0]
    assert sorted((c.strategy, c.start_method) for c in cells) == [
        ("pool-map", "fork"), ("pool-map", "spawn"), ("sequential", None), ("threads", None)]


def test_estimate_grows_with_the_work() -> None:
    """A plan with bigger inputs and more repeats is estimated longer."""
    small = build_spec("quick", None, {"strategies": "threads"}, [ParamFlag("--sizes", "size", ("1000",), "array-sum")])
    big = build_spec("quick", None, {"strategies": "threads", "repeat": "9"},
                     [ParamFlag("--sizes", "size", ("10_000_000",), "array-sum")])
    def seconds(spec: SweepSpec) -> float:
        cells = make_plan(spec).cells
        return total_estimate(cells, {c.cell.key(): estimate_cell(c, spec.repeat, spec.warmup, 2) for c in cells})

    assert 0 < seconds(small) < seconds(big)


def test_rounds_visit_every_cell_once_per_round_in_separately_shuffled_orders() -> None:
    """With rounds=3 each cell appears 3 times (visits 0, 1, 2); a round is complete before the next begins,
    and each round has its own order, fixed by the seed."""
    spec = build_spec("quick", None, {"strategies": "threads,pool-map", "rounds": "3", "seed": "5"})
    plan = make_plan(spec)
    keys = {c.cell.key() for c in plan.cells}
    assert len(plan.cells) == 3 * len(keys)
    rounds = [plan.cells[i * len(keys):(i + 1) * len(keys)] for i in range(3)]
    assert [{c.visit for c in r} for r in rounds] == [{0}, {1}, {2}]
    assert all({c.cell.key() for c in r} == keys for r in rounds)
    orders = [[c.cell.key() for c in r] for r in rounds]
    assert len({tuple(order) for order in orders}) == 3  # three distinct orders (true for seed 5's 20 cells)
    assert [c.visit_key() for c in make_plan(spec).cells] == [c.visit_key() for c in plan.cells]
