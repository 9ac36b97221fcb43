"""The CLI starts, lists its parts, and answers --version."""

from conftest import run_cli


def test_version_prints_and_exits_zero() -> None:
    """`parbench --version` names the package and exits 0."""
    result = run_cli(["--version"])
    assert result.rc == 0
    assert result.out.startswith("parbench ")
