"""The bench gate (bench/gate.py) against a temporary baseline: save when absent, pass unchanged, fail slowed.

Runs two benchmarks only (delayed-square sequential and threads x2: sleep-bound, so steady on a busy
machine), and slows threads by 0.1 s per run (about +400%) through the bench-only PARBENCH_BENCH_SLOWDOWN hook.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

SUBSET = "test_delayed_square and (sequential or threads-x2)"
SLOWED = "test_delayed_square[8x5ms-threads-x2]"
UNTOUCHED = "test_delayed_square[8x5ms-sequential-x1]"

# A test runs the gate (a pytest subprocess, at most 110 s each) once, plus the module's first_run when it is the
# first to ask for it: up to two runs, more than pytest-timeout's default 120 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def gate(baselines: Path, slowdown: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARBENCH_")}
    if slowdown:
        env["PARBENCH_BENCH_SLOWDOWN"] = slowdown
    cmd = [sys.executable, "bench/gate.py", "--baselines", str(baselines), "--json", str(baselines / "last.json"),
           "--", "-q", "-p", "no:cacheprovider", "-k", SUBSET]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=110, check=False)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    baselines = tmp_path_factory.mktemp("baselines")
    return baselines, gate(baselines)


def test_without_a_baseline_the_gate_says_so_saves_one_and_passes(
        first_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """No baseline for this machine: exit 0, a clear message, and a baseline file with both benchmarks."""
    baselines, result = first_run
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no baseline for " in result.stdout and "saving one" in result.stdout
    saved = list(baselines.glob("*/*/0001_baseline.json"))
    assert len(saved) == 1
    assert SLOWED in saved[0].read_text() and UNTOUCHED in saved[0].read_text()


def test_unchanged_code_passes_against_its_baseline(first_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """A second run of the same code compares with the saved baseline and passes."""
    baselines, _ = first_run
    result = gate(baselines)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bench gate: PASSED" in result.stdout


def test_a_slowed_strategy_fails_the_gate_and_is_named(
        first_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """With threads slowed, the gate exits non-zero and names that benchmark, and only that one, as regressed
    (in its own summary and in every pytest-benchmark compare-fail verdict, re-runs included)."""
    baselines, _ = first_run
    result = gate(baselines, slowdown="threads:0.1")
    regressed = [line for line in result.stdout.splitlines() if line.startswith("REGRESSED")]
    assert result.returncode != 0
    assert "bench gate: FAILED" in result.stdout
    assert len(regressed) == 1 and SLOWED in regressed[0], result.stdout
    verdicts = [line for line in (result.stdout + result.stderr).splitlines() if "RegressionCheck" in line]
    assert verdicts and all(SLOWED in line for line in verdicts)
    assert "re-running them to confirm" in result.stdout
