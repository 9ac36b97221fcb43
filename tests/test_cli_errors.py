"""Bad input: one line on stderr, exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from conftest import run_cli

BAD_RUNS = {
    "negative size": (["--size", "-5"], ">= 1"),
    "zero size": (["--size", "0"], ">= 1"),
    "size not a number": (["--size", "abc"], "expected an integer"),
    "zero workers": (["--strategy", "pool-map", "--workers", "0"], "workers must be between 1"),
    "absurd workers": (["--strategy", "pool-map", "--workers", "1e6"], "workers must be between 1"),
    "unknown strategy": (["--strategy", "shared-arry"], "did you mean 'shared-array'"),
    "unknown workload": (["--workload", "array-summ"], "did you mean 'array-sum'"),
    "unknown start method": (["--strategy", "pool-map", "--start-method", "forks"], "did you mean 'fork'"),
    "NaN delay": (["--workload", "delayed-square", "--delay", "nan"], "finite"),
    "negative delay": (["--workload", "delayed-square", "--delay", "-1"], ">= 0"),
    "zero repeats": (["--repeat", "0"], "--repeat must be between 1"),
    "negative warmup": (["--warmup", "-1"], "--warmup must be between 0"),
    "unknown kernel": (["--kernel", "cuda"], "not one of python, numpy"),
    "parameter of another workload": (["--delay", "1"], "array-sum takes no parameter 'delay'"),
    "option of another strategy": (["--strategy", "threads", "--chunksize", "4"], "threads takes no parameter"),
    "start method without processes": (["--start-method", "spawn"], "a start method does not apply"),
    "sequential wider than one": (["--workers", "2"], "at most 1 worker"),
    "unknown flag": (["--sise", "5"], "unrecognized arguments"),
    "malformed --param": (["--param", "size"], "expected KEY=VALUE"),
}


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_bad_run_input_is_one_line_exit_2(case: str) -> None:
    """Each kind of bad `run` input gets exactly one stderr line with the reason, and exit code 2."""
    args, reason = BAD_RUNS[case]
    result = run_cli(["run", *args])
    assert result.rc == 2, result
    assert result.err.count("\n") == 1 and result.err.startswith("parbench: error:"), result.err
    assert reason in result.err
    assert "Traceback" not in result.err and result.out == ""


def test_unknown_command_is_one_line_exit_2() -> None:
    """An unknown subcommand is bad input like any other."""
    result = run_cli(["frobnicate"])
    assert result.rc == 2
    assert result.err.count("\n") == 1 and "invalid choice" in result.err
