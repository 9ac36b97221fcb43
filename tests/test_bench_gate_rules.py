"""The bench gate's rules without running the suite: which baseline it picks, what it compares, and what it says
about a baseline it cannot use."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from conftest import ROOT


def _load(name: str) -> ModuleType:
    # bench/ is not a package and its modules import each other by top-level name (gate imports machine): load
    # them by path under those names, rather than putting bench/ (and its conftest.py) on sys.path.
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


machine: Any = _load("machine")
gate: Any = _load("gate")


def bench_entry(name: str, ratios: list[float] | None, times: list[float]) -> dict[str, Any]:
    extra = {} if ratios is None else {"paired_ratio": {"median": float(np.median(ratios)), "ratios": ratios}}
    return {"fullname": name, "extra_info": extra, "stats": {"median": float(np.median(times)), "data": times}}


def write_baseline(root: Path, machine_id: str, *, cpus: int | None = None, brand: str = "Some CPU @ 9.99GHz",
                   benchmarks: list[dict[str, Any]] | None = None) -> Path:
    info = {"machine": platform.machine(), "python_implementation": platform.python_implementation(),
            "python_version": platform.python_version(), "parbench_machine_id": machine_id,
            "cpu": {"count": cpus or os.cpu_count(), "brand_raw": brand}}
    path = root / machine_id / "Linux-CPython-3.11-64bit" / "0001_baseline.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"machine_info": info, "benchmarks": benchmarks or []}))
    return path


def test_a_baseline_differing_only_in_cpu_model_is_used_and_its_differences_named(tmp_path: Path) -> None:
    """Same architecture, CPU count and Python, another CPU string and machine id: comparable; the gate names
    both differences."""
    path = write_baseline(tmp_path, "x86_64-some-cpu-9.99ghz-ncpu")
    found = gate.find_baseline(tmp_path)
    assert found is not None and found.path == path
    diffs = "; ".join(gate.differences(found))
    assert "machine id x86_64-some-cpu-9.99ghz-ncpu" in diffs and "CPU model 'Some CPU @ 9.99GHz'" in diffs


def test_a_baseline_from_another_cpu_count_is_not_comparable(tmp_path: Path) -> None:
    """A machine with more logical CPUs measures other paired ratios (x2 cells find idle CPUs): not used."""
    write_baseline(tmp_path, "x86_64-big", cpus=(os.cpu_count() or 1) + 6)
    assert gate.find_baseline(tmp_path) is None


def test_this_machines_own_baseline_comes_first(tmp_path: Path) -> None:
    """Among comparable baselines, the one saved under this machine's id wins."""
    write_baseline(tmp_path, "a-first-in-name-order")
    own = write_baseline(tmp_path, machine.machine_id(), brand=machine.cpu_model())
    found = gate.find_baseline(tmp_path)
    assert found is not None and found.path == own and gate.differences(found) in ([], [found.python_version])


def test_without_a_comparable_baseline_main_fails_with_one_line(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """No comparable baseline and no --save-if-missing: exit 2 and a single line, before any benchmark runs."""
    write_baseline(tmp_path, "x86_64-big", cpus=(os.cpu_count() or 1) + 6)
    assert gate.main(["--baselines", str(tmp_path), "--json", str(tmp_path / "out" / "last.json")]) == 2
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("bench gate: FAILED: no comparable baseline in ")
    assert not (tmp_path / "out").exists()


def test_a_ratio_grown_past_the_threshold_with_significance_regresses() -> None:
    """Per-pair ratios 1.3x the baseline's, 15 pairs each: +30% over a 20% threshold, q far below 0.05."""
    rng = np.random.default_rng(1)
    before = list(1.0 + 0.03 * rng.standard_normal(15))
    base = {"b": gate.figure_of(bench_entry("b", before, [1.0]), "paired")}
    now = {"b": gate.figure_of(bench_entry("b", [1.3 * r for r in before], [1.0]), "paired")}
    [change] = gate.changes(base, now)
    assert change.growth == pytest.approx(30, abs=0.5) and change.q < 1e-4
    assert change.regressed(20, 0.05) and not change.regressed(35, 0.05)


def test_growth_without_significance_does_not_regress() -> None:
    """Two noisy pairs per side whose medians differ by 40%: over the threshold, but no test can tell them
    apart (Mann-Whitney's smallest p with 2 vs 2 is 1/3): not a regression."""
    base = {"b": gate.figure_of(bench_entry("b", [0.5, 1.5], [1.0]), "paired")}
    now = {"b": gate.figure_of(bench_entry("b", [0.9, 1.9], [1.0]), "paired")}
    [change] = gate.changes(base, now)
    assert change.growth == pytest.approx(40) and change.p > 0.3
    assert not change.regressed(20, 0.05)


def test_q_values_are_adjusted_over_all_benchmarks() -> None:
    """Benjamini-Hochberg: with one clear regression among many unchanged benchmarks, q >= p for each."""
    rng = np.random.default_rng(2)
    base, now = {}, {}
    for i in range(10):
        before = list(1.0 + 0.03 * rng.standard_normal(15))
        base[f"b{i}"] = gate.figure_of(bench_entry(f"b{i}", before, [1.0]), "paired")
        after = [r * (1.3 if i == 0 else 1.0) for r in rng.permutation(before)]
        now[f"b{i}"] = gate.figure_of(bench_entry(f"b{i}", after, [1.0]), "paired")
    result = {c.name: c for c in gate.changes(base, now)}
    assert all(c.q >= c.p for c in result.values())
    assert [name for name, c in result.items() if c.regressed(20, 0.05)] == ["b0"]


def test_an_old_baseline_without_the_paired_ratio_is_reported_not_gated(capsys: pytest.CaptureFixture[str]) -> None:
    """A baseline saved before the paired ratio: its benchmarks are named 'not gated on the normalised figure
    yet', compared on nothing, and nothing crashes; --metric raw still gates their medians."""
    old = {"b": gate.figure_of(bench_entry("b", None, [1.0, 1.1, 0.9]), "paired")}
    now = {"b": gate.figure_of(bench_entry("b", [1.0, 1.1], [1.0]), "paired")}
    gate.report_ungated(old, now, "old.json", "paired")
    assert "not gated on the normalised figure yet (1 benchmark(s): old.json predates" in capsys.readouterr().out
    assert gate.changes(old, now) == []
    raw_old = {"b": gate.figure_of(bench_entry("b", None, [1.0, 1.1, 0.9] * 5), "raw")}
    raw_now = {"b": gate.figure_of(bench_entry("b", None, [4.0, 4.4, 3.6] * 5), "raw")}
    [change] = gate.changes(raw_old, raw_now)
    assert change.regressed(200, 0.05)



def test_a_figure_paired_with_another_reference_is_reported_not_gated(capsys: pytest.CaptureFixture[str]) -> None:
    """A baseline whose process-pipe figure was paired with sequential alone, now with sequential + 2 process
    starts: not compared (the ratios mean different things), and named with both references; a benchmark whose
    reference did not change is still compared."""
    def entry(name: str, ratios: list[float], reference: str | None) -> dict[str, Any]:
        found = bench_entry(name, ratios, [1.0])
        if reference is not None:
            found["extra_info"]["paired_ratio"]["reference"] = reference
        return found

    ratios = [1.0, 1.1, 0.9, 1.05, 0.95]
    base = {"pipe": gate.figure_of(entry("pipe", ratios, "sequential"), "paired"),
            "threads": gate.figure_of(entry("threads", ratios, None), "paired")}
    now = {"pipe": gate.figure_of(entry("pipe", [r * 3 for r in ratios], "sequential + 2 process starts (fork)"),
                                  "paired"),
           "threads": gate.figure_of(entry("threads", ratios, "sequential"), "paired")}
    assert [c.name for c in gate.changes(base, now)] == ["threads"]
    gate.report_ungated(base, now, "old.json", "paired")
    out = capsys.readouterr().out
    assert "not gated on the normalised figure yet (1 benchmark(s) paired with another reference in old.json, " \
           "e.g. pipe: 'sequential' there, 'sequential + 2 process starts (fork)' now" in out

def test_the_committed_baseline_carries_the_paired_ratio_for_every_benchmark() -> None:
    """results/baselines/ was refreshed with the new fields: every benchmark has per-pair ratios and a CI."""
    [path] = (ROOT / "results" / "baselines").glob("*/*/0001_baseline.json")
    benchmarks = json.loads(path.read_text())["benchmarks"]
    paired = [b["extra_info"].get("paired_ratio") for b in benchmarks]
    assert benchmarks and all(p and p["pairs"] == len(p["ratios"]) >= 10 and len(p["ci95"]) == 2 for p in paired)
