"""`parbench compare` as a gate: asv's rule on synthetic samples, then A/A and A/B on two small real runs,
and bad input (exit 2, one line)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from markdown_it import MarkdownIt

import parbench
from conftest import ROOT, SWEEP_TIMEOUT, needs_a_sweep, run_cli
from parbench.analysis import DEFAULT_ALPHA
from parbench.analysis.compare import CellChange, compare_runs, ratio_ci, smallest_p
from parbench.cli import build_parser
from parbench.commands import compare
from parbench.results.schema import Cell, Record, Sample
from parbench.results.tidy import frame

# Sleep-bound cells: CPU contention from other jobs on a shared machine moves them least, so an A/A
# comparison of two back-to-back runs tests the statistics rather than the neighbours.
SMALL_RUN = ["--workloads", "delayed-square", "--sizes", "4", "--delay", "0.01", "--strategies",
             "sequential,threads,thread-pool", "--workers", "1,2", "--repeat", "11", "--warmup", "1",
             "--isolation", "fork", "--seed", "3"]
SCALED = "threads"
# One xdist worker runs the module: its two real runs are swept once, in the turn of the A/A test (the first to
# ask for them), which is serial with the A/B test: sleep-bound cells judged on a ratio to a paired reference still
# moved beside other tests' load (threads x2's ratio read 1.41x in one of the two runs, in a clean-clone .ci/run).
pytestmark = pytest.mark.xdist_group("compare_runs")


def _record(strategy: str, walls: Sequence[float], status: str = "OK", size: int = 4) -> Record:
    cell = Cell("delayed-square", {"size": size, "delay": 0.005}, strategy, 1)
    samples = tuple(Sample(i, int(w), int(w), {"compute": int(w)}, 30, status == "OK") for i, w in enumerate(walls))
    return Record(cell, status, 30, samples, family="threads")  # type: ignore[arg-type]


def _walls(scale: float = 1.0, n: int = 9, seed: int = 0) -> list[float]:
    return list(np.random.default_rng(seed).normal(20e6, 0.4e6, n) * scale)


def test_a_clear_slowdown_regresses_and_a_speedup_improves() -> None:
    """x1.5 on 9 repeats is a regression, x0.5 an improvement, the same values unchanged."""
    base = frame("a", [_record("a", _walls()), _record("b", _walls()), _record("c", _walls())])
    new = frame("b", [_record("a", _walls(1.5, seed=1)), _record("b", _walls(0.5, seed=2)), _record("c", _walls())])
    verdicts = {c.label.split()[2]: c.verdict for c in compare_runs(base, new).cells}
    assert verdicts == {"a": "regressed", "b": "improved", "c": "unchanged"}


def test_a_slowdown_under_the_factor_or_without_significance_is_not_flagged() -> None:
    """x1.05 (under factor 1.10) is unchanged however clear; two overlapping noisy samples are too."""
    base = frame("a", [_record("a", _walls()), _record("b", [10e6, 30e6, 12e6, 28e6, 20e6])])
    new = frame("b", [_record("a", _walls(1.05, seed=1)), _record("b", [11e6, 33e6, 13e6, 31e6, 22e6])])
    assert [c.verdict for c in compare_runs(base, new).cells] == ["unchanged", "unchanged"]


def test_a_cell_that_stops_being_ok_regresses() -> None:
    """OK -> WRONG regresses whatever the times; WRONG -> WRONG is not compared."""
    base = frame("a", [_record("a", _walls()), _record("b", _walls(), "WRONG")])
    new = frame("b", [_record("a", _walls(), "WRONG"), _record("b", _walls(), "WRONG")])
    changes = compare_runs(base, new).cells
    assert [(c.verdict, c.reason) for c in changes] == [("regressed", "status OK -> WRONG"),
                                                       ("not compared", "status WRONG -> WRONG")]


def test_too_few_repeats_to_ever_reach_alpha_are_pointed_out() -> None:
    """3 against 3 repeats cannot give p < 0.01 (at best 0.1): the comparison says so."""
    assert smallest_p(3, 3) == pytest.approx(0.1)
    assert smallest_p(5, 5) < 0.01
    comparison = compare_runs(frame("a", [_record("a", [1e6, 1e6, 1e6])]),
                              frame("b", [_record("a", [3e6, 3e6, 3e6])]))
    assert comparison.regressed == []
    assert any("smallest possible p-value is 0.1" in note for note in comparison.notes)


def test_the_bootstrap_ci_of_the_ratio_brackets_it() -> None:
    """The 95% CI of median(new)/median(base) contains the ratio of the medians."""
    base, new = np.array(_walls()), np.array(_walls(1.3, seed=4))
    low, high = ratio_ci(base, new)
    assert low <= np.median(new) / np.median(base) <= high


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, float]:
    """Two small real runs of the same code back to back (A/A), and a copy of the first whose SCALED
    strategy's times are scaled (A/B) by 1.5, or by more where that strategy's own pairs spread wider (a busy
    machine): a slowdown larger than the cell's spread must be caught, whatever the machine did."""
    results = tmp_path_factory.mktemp("compare-runs")
    for run_id in ("a", "b"):
        result = run_cli(["sweep", *SMALL_RUN, "--results", str(results), "--run-id", run_id],
                         timeout=SWEEP_TIMEOUT / 2)
        assert result.rc == 0, result.err
    scaled = results / "a-scaled"
    shutil.copytree(results / "a", scaled)
    records = [json.loads(line) for line in (scaled / "records.jsonl").read_text().splitlines()]
    factor = max(1.5, round(1.1 * max(_spread(r) for r in records if r["cell"]["strategy"] == SCALED), 1))
    for record in records:
        if record["cell"]["strategy"] == SCALED:
            for sample in record["samples"]:  # the same CPU others took, over a longer time: the same pairs clean
                sample.update({k: int(sample[k] * factor) for k in ("wall_ns", "foreign_ns") if sample.get(k)})
    (scaled / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return results / "a", results / "b", scaled, factor


def _spread(record: dict[str, Any]) -> float:
    """max/min over a record's timed pairs of its wall time relative to its paired reference."""
    cell = [s["wall_ns"] for s in record["samples"] if not s["warmup"]]
    reference = [s["wall_ns"] for s in record["reference"] if not s["warmup"]]
    relative = [c / r for c, r in zip(cell, reference, strict=True)]
    return max(relative) / min(relative)


@pytest.mark.slow
@needs_a_sweep
@pytest.mark.serial
def test_a_a_two_runs_of_the_same_code_flag_nothing(runs: tuple[Path, Path, Path, float]) -> None:
    """A/A: two back-to-back runs of the same cells compare with exit 0 and zero regressions."""
    a, b, _, _ = runs
    result = run_cli(["compare", str(a), str(b), "--format", "json"])
    assert result.rc == 0, result.out + result.err
    report = json.loads(result.out)
    assert report["regressed"] == 0
    assert len(report["cells"]) == 5


@pytest.mark.slow
@needs_a_sweep
@pytest.mark.serial
def test_a_b_exactly_the_scaled_strategys_cells_regress(runs: tuple[Path, Path, Path, float]) -> None:
    """A/B: against a copy with one strategy's wall times x1.5 (or more: the fixture), exit 1 and exactly that
    strategy's cells flagged, each with that ratio."""
    a, _, scaled, factor = runs
    result = run_cli(["compare", str(a), str(scaled), "--format", "json"])
    assert result.rc == 1, result.out + result.err
    cells = json.loads(result.out)["cells"]
    flagged = {json.loads(c["key"])["strategy"] + f" x{json.loads(c['key'])['workers']}"
               for c in cells if c["verdict"] == "regressed"}
    assert flagged == {f"{SCALED} x1", f"{SCALED} x2"}
    assert [round(c["ratio"], 2) for c in cells if c["verdict"] == "regressed"] == [factor, factor]


def _compare(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`parbench compare ARGS` in this process: exit status and stdout."""
    status = compare.main(build_parser().parse_args(["compare", *args]))
    return status, capsys.readouterr().out


@pytest.mark.slow
@needs_a_sweep
def test_compare_prints_a_table_and_valid_markdown(runs: tuple[Path, Path, Path, float],
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The table names each regressed cell and the counts; --format md parses into a table of those cells."""
    a, _, scaled, _ = runs
    status, table = _compare([str(a), str(scaled)], capsys)
    assert status == 1 and "2 regressed" in table and f"{SCALED} x2" in table
    _, md = _compare([str(a), str(scaled), "--format", "md"], capsys)
    tokens = MarkdownIt().enable("table").parse(md)
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 3  # the header and the two regressed cells


@pytest.mark.slow
@needs_a_sweep
def test_runs_without_a_common_cell_are_bad_input(runs: tuple[Path, Path, Path, float], tmp_path: Path) -> None:
    """Two runs sharing no cell: one line, exit 2."""
    a, _, _, _ = runs
    other = tmp_path / "other"
    shutil.copytree(a, other)
    text = (other / "records.jsonl").read_text().replace('"delay":0.01', '"delay":0.5')
    (other / "records.jsonl").write_text(text)
    result = run_cli(["compare", str(a), str(other)])
    assert result.rc == 2
    assert result.err.count("\n") == 1 and "no cell in common" in result.err


@pytest.mark.slow
@needs_a_sweep
def test_another_schema_version_is_bad_input(runs: tuple[Path, Path, Path, float], tmp_path: Path) -> None:
    """A run of a schema version this parbench cannot read: one line naming it, exit 2."""
    a, _, _, _ = runs
    future = tmp_path / "future"
    shutil.copytree(a, future)
    meta = json.loads((future / "meta.json").read_text())
    (future / "meta.json").write_text(json.dumps({**meta, "schema_version": 99}))
    result = run_cli(["compare", str(a), str(future)])
    assert result.rc == 2
    assert result.err.count("\n") == 1 and "schema_version 99" in result.err


def _paired(walls: Sequence[float], disturbed: int) -> Record:
    """A paired cell on one CPU: its first `disturbed` repeats had others take half of the CPU (foreign_ns)."""
    cell = Cell("delayed-square", {"size": 4, "delay": 0.005}, "threads", 1)
    samples = tuple(Sample(i, int(w), int(w), {}, 30, True, foreign_ns=int(w / 2) if i < disturbed else 0,
                           first=False) for i, w in enumerate(walls))
    reference = tuple(Sample(i, 20_000_000, 20_000_000, {}, 30, True, foreign_ns=0, first=True)
                      for i in range(len(walls)))
    return Record(cell, "OK", 30, samples, cpus=(0,), family="threads", reference=reference)


def test_a_cell_whose_pairs_were_mostly_disturbed_is_not_compared() -> None:
    """7 of 14 pairs spared by other tenants are judged (a 1.5x slowdown regresses); 5 of 14 are the lucky ones,
    not a sample: not compared, with the reason."""
    base = frame("a", [_paired(_walls(n=14), 0)])
    half = compare_runs(base, frame("b", [_paired(_walls(1.5, n=14, seed=1), 7)])).cells[0]
    assert half.verdict == "regressed" and half.paired and half.new_n == 7
    most = compare_runs(base, frame("b", [_paired(_walls(1.5, n=14, seed=1), 9)])).cells[0]
    assert most.verdict == "not compared"
    assert most.reason == "fewer than half of its pairs (or 3) undisturbed by other tenants in new"


def test_a_path_that_is_not_a_run_is_bad_input(tmp_path: Path) -> None:
    """compare with a folder holding no records.jsonl: one line, exit 2."""
    result = run_cli(["compare", str(tmp_path), str(tmp_path)])
    assert result.rc == 2
    assert result.err.count("\n") == 1 and "not a parbench run" in result.err


def _drifted_runs(drift: float, slowed: float) -> tuple[list[Record], list[Record]]:
    """12 cells; in the new run every cell is `drift` x slower (the machine) and size 4 is `slowed` x more."""
    sizes = range(4, 16)
    base = [_record("threads", _walls(seed=size), size=size) for size in sizes]
    new = [_record("threads", _walls(drift * (slowed if size == 4 else 1.0), seed=size + 100), size=size)
           for size in sizes]
    return base, new


def test_a_machine_that_ran_the_whole_run_slower_is_drift_not_regressions() -> None:
    """Every cell 30% slower: measured as the run-wide drift and printed; no cell is flagged. --absolute
    judges the raw times and flags them all."""
    base, new = _drifted_runs(1.3, 1.0)
    comparison = compare_runs(frame("a", base), frame("b", new))
    assert comparison.drift == pytest.approx(1.3, rel=0.03)
    assert comparison.regressed == [] and comparison.improved == []
    assert f"{comparison.drift - 1:.1%} slower than the base across the board" in comparison.notes[0]
    assert len(compare_runs(frame("a", base), frame("b", new), absolute=True).regressed) == 12


def test_a_slowed_cell_stands_out_against_the_drift() -> None:
    """On top of a 12% drift, the one cell made 1.5x slower is flagged, alone, at a relative ratio near 1.5."""
    base, new = _drifted_runs(1.12, 1.5)
    comparison = compare_runs(frame("a", base), frame("b", new))
    assert [c.key for c in comparison.regressed] == [_record("threads", [1.0], size=4).cell.key()]
    assert comparison.regressed[0].relative == pytest.approx(1.5, rel=0.05)
    assert comparison.regressed[0].ratio == pytest.approx(1.68, rel=0.05)


def test_too_few_cells_for_a_drift_are_judged_raw() -> None:
    """With fewer than 8 common cells no drift is estimated (it would be those cells' own change)."""
    base, new = _drifted_runs(1.3, 1.0)
    comparison = compare_runs(frame("a", base[:3]), frame("b", new[:3]))
    assert comparison.drift == 1.0
    assert len(comparison.regressed) == 3
    assert "raw times" in comparison.notes[0]


def test_q_values_adjust_for_how_many_cells_are_compared() -> None:
    """Benjamini-Hochberg: never below the raw p-values, equal to them for a single cell."""
    from parbench.analysis.stats import adjusted

    raw = [0.009, 0.2, 0.5, 4e-5]
    q = adjusted(raw)
    assert all(qi >= pi for qi, pi in zip(q, raw, strict=True))
    assert adjusted([0.009]) == [0.009]
    assert q[3] < 0.01 < q[0]


def test_one_borderline_cell_among_many_is_not_a_regression() -> None:
    """A cell 15% slower with p just under 0.01 among 20 compared cells does not pass the adjusted test;
    the same change alone (one cell compared) does."""
    sizes = range(4, 24)
    base = [_record("threads", _walls(n=6, seed=s), size=s) for s in sizes]
    new = [_record("threads", _walls(1.15 if s == 4 else 1.0, n=6, seed=s + 50), size=s) for s in sizes]
    many = compare_runs(frame("a", base), frame("b", new))
    lone = compare_runs(frame("a", base[:1]), frame("b", new[:1]))
    assert lone.cells[0].p_value < 0.01 and lone.regressed
    assert many.regressed == []


def test_a_run_without_meta_json_compares(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run folder holding only records.jsonl opens for compare as it does for report: the same records
    compare with nothing regressed, no complaint about a schema version."""
    fixture = Path(__file__).resolve().parent.parent / "results" / "fixtures" / "small"
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(fixture / "records.jsonl", bare / "records.jsonl")
    status, out = _compare([str(fixture), str(bare)], capsys)
    assert status == 0
    assert "0 regressed" in out


def test_each_cell_is_tested_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One Mann-Whitney test per compared cell: the p-value behind its q-value is the one it reports."""
    import parbench.analysis.compare as analysis

    calls = []
    real = analysis.mann_whitney_p

    def counted(base: np.ndarray, new: np.ndarray) -> float:
        calls.append(1)
        return real(base, new)

    monkeypatch.setattr(analysis, "mann_whitney_p", counted)
    base, new = _drifted_runs(1.0, 1.5)
    comparison = compare_runs(frame("a", base), frame("b", new))
    assert len(calls) == len(comparison.cells) == 12
    assert all(c.q_value >= c.p_value for c in comparison.cells)


def test_every_format_lists_the_same_cells_and_never_nan(capsys: pytest.CaptureFixture[str]) -> None:
    """The table and the Markdown list a regression and a status change (WRONG -> TIMEOUT), not a cell that
    stayed WRONG; with --all, Markdown is one table of every common cell, with no 'nan' in it."""
    base = frame("a", [_record("a", _walls()), _record("b", _walls(), "WRONG"), _record("c", _walls(), "WRONG"),
                       _record("d", _walls())])
    new = frame("b", [_record("a", _walls(1.5, seed=1)), _record("b", _walls(), "WRONG"),
                      _record("c", [], "TIMEOUT"), _record("d", _walls())])
    comparison = compare_runs(base, new)

    def md_rows(every: bool) -> list[str]:
        tokens = MarkdownIt().enable("table").parse(compare.as_markdown(comparison, every))
        assert sum(1 for t in tokens if t.type == "table_open") == 1
        return [tokens[i + 2].content for i, t in enumerate(tokens) if t.type == "tr_open"][1:]

    assert [c.label.split()[2] for c in comparison.shown()] == ["a", "c"]
    assert [row.split()[2] for row in md_rows(False)] == ["a", "c"]
    compare.print_table(comparison, False)
    table = capsys.readouterr().out
    assert " a x1" in table and " c x1" in table and " b x1" not in table
    assert len(md_rows(True)) == 4
    assert "nan" not in compare.as_markdown(comparison, True)


# A real quick run (schema 2: every parallel repeat paired with a sequential reference in its probe).
QUICK = ROOT / "results" / "fixtures" / "quick"


def _scaled_copy(run: Path, strategy: str, factor: float, target: Path) -> Path:
    """A copy of `run` whose `strategy` cells' wall times are x`factor`, their paired references untouched."""
    shutil.copytree(run, target)
    lines = []
    for line in (run / "records.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["cell"]["strategy"] == strategy:
            for sample in record["samples"]:
                sample["wall_ns"] = int(sample["wall_ns"] * factor)
        lines.append(json.dumps(record))
    (target / "records.jsonl").write_text("\n".join(lines) + "\n")
    return target


def _slowed(tmp_path: Path, factor: float) -> tuple[list[CellChange], list[CellChange]]:
    """The default (paired) gate between the real quick run and its copy with pool-map's wall times x`factor`:
    (pool-map's 8 cells, every cell flagged either way)."""
    scaled = _scaled_copy(QUICK, "pool-map", factor, tmp_path / f"slower-{factor}")
    found = compare_runs(parbench.load(QUICK), parbench.load(scaled))
    pool = [c for c in found.cells if json.loads(c.key)["strategy"] == "pool-map"]
    assert len(pool) == 8 and all(c.paired for c in pool)
    return pool, [c for c in found.cells if c.verdict in ("regressed", "improved")]


def test_paired_compare_flags_a_strategy_made_2x_slower_and_nothing_else(tmp_path: Path) -> None:
    """pool-map's wall times x2 on a real quick run, its paired references untouched: all 8 of its cells
    regressed, each by its paired ratio of 2, and no other cell flagged."""
    pool, flagged = _slowed(tmp_path, 2.0)
    assert all(c.verdict == "regressed" for c in pool), [(c.label, c.q_value) for c in pool]
    assert all(abs(c.ratio - 2.0) < 1e-3 for c in pool)
    assert {c.key for c in flagged} == {c.key for c in pool}


def test_paired_compare_flags_nothing_but_the_slowed_strategy_at_1_3x(tmp_path: Path) -> None:
    """At x1.3 the gate flags at least 7 of pool-map's 8 cells, and nothing else. Alone, a cell's pairs cannot show
    1.3x through pool-map's own jitter at every point (array-sum 1e4 x2: p 0.09); its eight cells judged together
    (analysis.strategywide) can, and each cell beyond the factor is flagged with them."""
    pool, flagged = _slowed(tmp_path, 1.3)
    assert all(json.loads(c.key)["strategy"] == "pool-map" and c.verdict == "regressed" for c in flagged)
    assert sum(c.verdict == "regressed" for c in pool) >= 7, [(c.label, c.q_value) for c in pool]
    alone = [c for c in pool if c.verdict == "regressed" and not c.together]
    assert all(c.q_value < DEFAULT_ALPHA for c in alone)
    assert all("pool-map fork chunksize=0: 8 of its 8 cells slower" in c.reason for c in pool if c.together)
