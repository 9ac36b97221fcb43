"""Sweep specs: presets, TOML files and flags merge into one validated SweepSpec; bad input names its source."""

from __future__ import annotations

from pathlib import Path

import pytest

from parbench.errors import UserError
from parbench.runner.affinity import usable_cpus
from parbench.runner.presets import LOCAL
from parbench.runner.spec import ParamFlag, build_spec, parse_workers


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text(text)
    return path


def test_quick_preset_covers_both_workloads_every_local_strategy_two_sizes_workers_1_2() -> None:
    """The quick preset asks for both workloads with two sizes each, every local strategy, workers 1 and 2."""
    spec = build_spec("quick", None, {})
    assert set(spec.workloads) == {"array-sum", "delayed-square"}
    assert all(len(grid["size"]) == 2 for grid in spec.workloads.values())
    assert spec.strategies == tuple(LOCAL) and "value-nolock" not in spec.strategies
    assert spec.workers == (1, 2)
    assert spec.lenient


def test_default_preset_is_used_when_nothing_is_given() -> None:
    """No preset and no file: the default preset, which names the peers merged later (dispy, dask, joblib)."""
    spec = build_spec(None, None, {})
    assert spec.preset == "default"
    assert {"dispy", "dask", "joblib"} <= set(spec.strategies)


def test_toml_overrides_the_preset_key_by_key_and_parameters_one_by_one(tmp_path: Path) -> None:
    """A TOML file replaces the keys it sets and merges parameters into the preset's grid."""
    path = _toml(tmp_path, 'preset = "quick"\nrepeat = 7\nworkers = [1]\n[params.array-sum]\nsize = [1e3, "2_000"]\n')
    spec = build_spec(None, path, {})
    assert (spec.preset, spec.repeat, spec.workers) == ("quick", 7, (1,))
    assert spec.workloads["array-sum"]["size"] == (1000, 2000)
    assert spec.workloads["array-sum"]["kernel"] == ("python",)  # kept from the preset


def test_flags_override_the_toml_file(tmp_path: Path) -> None:
    """Flags win over the file, and strategy names given by the user make the spec strict."""
    path = _toml(tmp_path, 'repeat = 7\nstrategies = ["threads"]\n')
    spec = build_spec("quick", path, {"repeat": "2", "strategies": "sequential,processes"})
    assert spec.repeat == 2
    assert spec.strategies == ("sequential", "processes")
    assert not spec.lenient


@pytest.mark.parametrize(("text", "message"), [
    ("repaet = 3\n", "unknown key 'repaet'"),
    ("[params.array-sum]\nsise = [1]\n", "params.array-sum: unknown key 'sise'"),
    ("[params.array-sum]\nsize = ['abc']\n", "params.array-sum: size: expected an integer"),
    ("workers = [0]\n", "workers: workers must be between 1"),
    ("repeat = 'many'\n", "repeat: expected an integer"),
    ("[options.pool-map]\nchunk = 3\n", "options.pool-map: pool-map takes no parameter 'chunk'"),
    ("repeat = = 3\n", "malformed TOML"),
])
def test_bad_toml_is_a_user_error_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    """Every bad TOML input is a UserError that names the file and the offending key."""
    path = _toml(tmp_path, text)
    with pytest.raises(UserError) as caught:
        build_spec(None, path, {})
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_sizes_accept_scientific_and_underscored_integers() -> None:
    """--sizes takes 1e6 and 10_000_000, for every workload that has a size."""
    spec = build_spec("quick", None, {"workloads": "array-sum"}, [ParamFlag("--sizes", "size", ("1e6", "10_000_000"))])
    assert spec.workloads["array-sum"]["size"] == (1_000_000, 10_000_000)


def test_sizes_for_one_workload_leave_the_other_alone() -> None:
    """`--sizes array-sum=...` sets only array-sum's sizes."""
    spec = build_spec("quick", None, {}, [ParamFlag("--sizes", "size", ("5000",), "array-sum")])
    assert spec.workloads["array-sum"]["size"] == (5000,)
    assert spec.workloads["delayed-square"]["size"] == (4, 8)


@pytest.mark.parametrize(("flags", "message"), [
    ([ParamFlag("--sizes", "size", ("abc",))], "--sizes: array-sum: size: expected an integer"),
    ([ParamFlag("--kernels", "kernel", ("numpi",))], "did you mean 'numpy'"),
    ([ParamFlag("--sizes", "size", ("10",), "nope")], "workload 'nope' is not in this sweep"),
])
def test_bad_parameter_flags_name_the_flag(flags: list[ParamFlag], message: str) -> None:
    """A bad value given by flag is a UserError naming the flag."""
    with pytest.raises(UserError, match=message):
        build_spec("quick", None, {}, flags)


def test_a_parameter_no_selected_workload_takes_is_an_error() -> None:
    """--kernels with only delayed-square selected is an error, not silently ignored."""
    with pytest.raises(UserError, match="no workload in this sweep takes 'kernel'"):
        build_spec("quick", None, {"workloads": "delayed-square"}, [ParamFlag("--kernels", "kernel", ("numpy",))])


def test_workers_range_expands_to_powers_of_two_and_the_cpu_count() -> None:
    """`1..max` is 1, 2, 4, ... up to the usable CPUs, plus that count; `1,3` is a plain list."""
    top = len(usable_cpus())
    expanded = parse_workers("1..max", "--workers")
    assert expanded[0] == 1 and expanded[-1] == top
    assert all(w & (w - 1) == 0 for w in expanded[:-1])
    assert parse_workers("1..12", "--workers") == (1, 2, 4, 8, 12)
    assert parse_workers("3,1", "--workers") == (1, 3)


@pytest.mark.parametrize("value", ["0", "abc", "4..2", "1,-1"])
def test_bad_workers_are_user_errors(value: str) -> None:
    """Zero, negative, non-numeric workers and empty ranges are UserErrors naming --workers."""
    with pytest.raises(UserError, match="--workers"):
        parse_workers(value, "--workers")


def test_resolved_spec_round_trips_through_its_dict() -> None:
    """The spec stored in meta.json reads back to an equal spec (resume relies on it)."""
    from parbench.runner.spec import spec_from_dict

    spec = build_spec("quick", None, {"seed": "5"})
    assert spec_from_dict(spec.to_dict()) == spec


def test_quiet_wait_comes_from_toml_or_flag_and_rejects_negatives(tmp_path: Path) -> None:
    """quiet-wait (TOML) and --quiet-wait: seconds, 0 by default, a negative value one line naming its source."""
    assert build_spec("quick", None, {}).quiet_wait == 0.0
    config = tmp_path / "sweep.toml"
    config.write_text("quiet-wait = 7.5\n")
    assert build_spec(None, config, {}).quiet_wait == 7.5
    assert build_spec(None, config, {"quiet-wait": "3"}).quiet_wait == 3.0
    with pytest.raises(UserError, match="--quiet-wait: must be between 0"):
        build_spec("quick", None, {"quiet-wait": "-1"})
