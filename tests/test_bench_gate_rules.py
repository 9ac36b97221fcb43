"""The bench gate's rules without running the suite: which baseline it picks, what it compares, and what it says
about a baseline it cannot use."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
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
                   benchmarks: list[dict[str, Any]] | None = None, session: int = 1) -> Path:
    info = {"machine": platform.machine(), "python_implementation": platform.python_implementation(),
            "python_version": platform.python_version(), "parbench_machine_id": machine_id,
            "cpu": {"count": cpus or os.cpu_count(), "brand_raw": brand}}
    path = root / machine_id / "Linux-CPython-3.11-64bit" / f"{session:04d}_baseline.json"
    path.parent.mkdir(parents=True, exist_ok=True)
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
    """results/baselines/ was refreshed with the new fields: in every session of the one committed baseline,
    every benchmark has per-pair ratios and a CI."""
    paths = sorted((ROOT / "results" / "baselines").glob("*/*/*_baseline.json"))
    assert paths and {p.parent for p in paths} == {paths[0].parent}
    for path in paths:
        benchmarks = json.loads(path.read_text())["benchmarks"]
        paired = [b["extra_info"].get("paired_ratio") for b in benchmarks]
        assert benchmarks and all(p and p["pairs"] == len(p["ratios"]) >= 10 and len(p["ci95"]) == 2
                                  for p in paired), path


def sessions_of(tmp_path: Path, medians: list[float]) -> Any:
    """A baseline of one benchmark `b`, one session per median, 15 pairs each spread +-3% around it."""
    rng = np.random.default_rng(3)
    for number, median in enumerate(medians, 1):
        ratios = list(median * (1.0 + 0.03 * rng.standard_normal(15)))
        write_baseline(tmp_path, "x86_64-some-cpu-ncpu", session=number,
                       benchmarks=[bench_entry("b", ratios, [1.0])])
    found = gate.find_baseline(tmp_path)
    assert found is not None
    return found


def test_a_baseline_is_all_the_sessions_of_its_folder_the_newest_named(tmp_path: Path) -> None:
    """Three numbered sessions in one folder: one baseline with all three, 0003 its newest file."""
    found = sessions_of(tmp_path, [1.0, 1.1, 1.2])
    assert [p.name for p in found.sessions] == ["0001_baseline.json", "0002_baseline.json", "0003_baseline.json"]
    assert found.path.name == "0003_baseline.json"


def test_each_benchmark_is_compared_with_its_slowest_baseline_session(tmp_path: Path) -> None:
    """Sessions at 0.8, 1.3 and 1.0 (the unchanged tree moved between two modes): a run at 1.4 is +8% over the
    slowest, not a regression, though +75% over the fastest; a run at 1.3 x 1.3 is +30% over it and regresses."""
    found = sessions_of(tmp_path, [0.8, 1.3, 1.0])
    base = gate.baseline_figures(found.sessions, "paired")
    assert base["b"].median == pytest.approx(1.3, rel=0.05)
    assert base["b"].sessions == tuple(sorted(base["b"].sessions)) and len(base["b"].sessions) == 3
    rng = np.random.default_rng(4)
    for level, regressed in ((1.4, False), (1.3 * 1.3, True)):
        now = {"b": gate.figure_of(bench_entry("b", list(level * (1 + 0.03 * rng.standard_normal(15))), [1.0]),
                                   "paired")}
        [change] = gate.changes(base, now)
        assert change.regressed(20, 0.05) is regressed, change
    said = change.describe("paired")
    assert re.search(r"1\.3\d\d \(slowest of 3 baseline sessions, 0\.[78]\d\d to 1\.3\d\d\) -> 1\.[67]", said), said


def test_benchmarks_that_moved_between_sessions_more_than_the_threshold_are_named(tmp_path: Path) -> None:
    """Sessions 0.8 and 1.3 (+62%): the gate says it compares `b` with its slowest session; 1.0 and 1.1 (+10%
    under a 20% threshold): nothing to say."""
    wide = gate.wide_lines(gate.baseline_figures(sessions_of(tmp_path / "a", [0.8, 1.3]).sessions, "paired"),
                           20, "paired")
    assert len(wide) == 1 and "1 benchmark(s) moved more than +20%" in wide[0] and "b +6" in wide[0]
    assert gate.wide_lines(gate.baseline_figures(sessions_of(tmp_path / "b", [1.0, 1.1]).sessions, "paired"),
                           20, "paired") == []


def test_add_session_appends_and_a_failing_run_saves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """--add-session measures one run into the baseline in use, as its next number; a run whose benchmarks fail
    adds nothing. (The suite itself is stood in for here: tests/test_bench_gate.py saves a real one.)"""
    found = sessions_of(tmp_path, [1.0])
    outcome = {"rc": 0}

    def fake_run(targets: list[str], extra: list[str], json_out: Path) -> int:
        json_out.write_text(found.path.read_text())
        return outcome["rc"]

    monkeypatch.setattr(gate, "run_pytest", fake_run)
    args = ["--baselines", str(tmp_path), "--json", str(tmp_path / "out" / "last.json"), "--add-session"]
    outcome["rc"] = 1
    assert gate.main(args) == 1 and len(gate.find_baseline(tmp_path).sessions) == 1
    outcome["rc"] = 0
    assert gate.main(args) == 0
    assert [p.name for p in gate.find_baseline(tmp_path).sessions] == ["0001_baseline.json", "0002_baseline.json"]
    assert "2 session(s) in all" in capsys.readouterr().out and (tmp_path / "out" / "last.json").exists()
