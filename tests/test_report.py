"""`parbench report`: the HTML report of the committed fixture run and of a fresh quick run (winners, figures,
environment, warnings, no URL, escaped text), the Markdown summary as valid tables, and bad input."""

from __future__ import annotations

import io
import json
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from conftest import FIXTURE, QuickRun, needs_a_sweep, run_cli
from parbench.report.model import build
from parbench.report.output import renderer
from parbench.results.meta import RunMeta
from parbench.results.reader import open_run
from parbench.results.store import RunStore
from parbench.runner import lifecycle
from parbench.runner.display import SweepDisplay

FIGURES = ("Time vs size", "Speedup vs workers", "Efficiency vs workers", "Where the time goes", "CPU utilisation",
           "Throughput vs memory bandwidth")
WRONG_CELLS = ("array-sum[fill=arange kernel=python size=1e4] value-nolock x2 fork batch=1",
               "array-sum[fill=arange kernel=python size=1e5] value-nolock x2 fork batch=1")


class Sections(HTMLParser):
    """The text of each <section id=...> of a report, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.tags: list[str] = []
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "section":
            self._current = dict(attrs).get("id")
            self.text[str(self._current)] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.text[self._current] += data


def sections(html: str) -> Sections:
    parser = Sections()
    parser.feed(html)
    return parser


def report(run: Path, out: Path, *args: str) -> str:
    """The CLI, as a user runs it: it writes the file and prints where."""
    result = run_cli(["report", str(run), "-o", str(out), *args])
    assert result.rc == 0, result.err
    assert result.out.strip() == f"report: {out}"
    return out.read_text(encoding="utf-8")


def render(run: Path, baseline: Path | None = None, fmt: str = "html") -> str:
    """The same report in this process (no interpreter start and imports per report: the suite stays fast)."""
    built = build(open_run(run), open_run(baseline) if baseline is not None else None)
    return renderer(fmt)(built)


# One xdist worker runs every test that reads the session's quick run (conftest.quick_run), so it is swept once.
pytestmark = pytest.mark.xdist_group("quick_run")


@pytest.fixture(scope="module")
def fixture_html(tmp_path_factory: pytest.TempPathFactory) -> str:
    return report(FIXTURE, tmp_path_factory.mktemp("fixture-report") / "report.html")


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture run, interrupted (two planned cells never recorded), with a CRASHED cell whose error holds
    markup and a TIMEOUT cell: what a report must list, escaped, and survive."""
    run = tmp_path_factory.mktemp("broken") / "broken"
    shutil.copytree(FIXTURE, run)
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    crashed = next(r for r in records if r["cell"]["strategy"] == "pool-map" and r["cell"]["workers"] == 2)
    crashed.update(status="CRASHED", samples=[], error="worker 1 was killed by SIGKILL <script>alert(1)</script>")
    timeout = next(r for r in records if r["cell"]["strategy"] == "threads" and r["cell"]["workers"] == 2)
    timeout.update(status="TIMEOUT", samples=[], error="killed after 60 s")
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[:-2]))
    return run


@needs_a_sweep
def test_the_sweep_writes_its_report_and_says_where(quick_run: QuickRun) -> None:
    """A finished sweep leaves report.html in its run folder and prints its path as the last line."""
    assert (quick_run.path / "report.html").is_file()
    assert quick_run.result.out.strip().splitlines()[-1] == f"report: {quick_run.path / 'report.html'}"


@needs_a_sweep
def test_a_quick_run_report_names_a_winner_per_workload_and_shows_every_figure(quick_run: QuickRun) -> None:
    """Each workload section names its winner and holds the speedup, efficiency, phase, utilisation and
    throughput figures as inline SVG; the environment block shows the machine, calibration and commit."""
    html = (quick_run.path / "report.html").read_text(encoding="utf-8")
    found = sections(html)
    for workload in ("array-sum", "delayed-square"):
        text = found.text[f"w-{workload}"]
        assert re.search(r"Winner: \S", text), workload
        assert all(f"{title}." in text for title in FIGURES[:5]), workload
    assert "Throughput vs memory bandwidth." in found.text["w-array-sum"]
    assert found.tags.count("svg") == 5 + 6 + 2  # the figures, and one legend per workload
    environment = found.text["environment"]
    assert all(word in environment for word in ("CPU", "memory bandwidth", "process start", "commit", "GIL"))


def test_the_fixture_report_lists_its_wrong_cells_in_the_warnings(fixture_html: str) -> None:
    """The two WRONG value-nolock cells are in the warnings section with the results they gave."""
    warnings = sections(fixture_html).text["warnings"]
    for label in WRONG_CELLS:
        assert label in warnings
    assert warnings.count("WRONG") >= 2 and "expected 49995000" in warnings


@needs_a_sweep
def test_a_report_holds_no_url_no_script_and_no_external_resource(fixture_html: str, quick_run: QuickRun) -> None:
    """Self-contained: no 'http' anywhere, no <script>, no src= or href= that leaves the page."""
    for html in (fixture_html, (quick_run.path / "report.html").read_text(encoding="utf-8")):
        assert "http" not in html
        assert "<script" not in html
        assert re.findall(r'(?:src|href)="(?!#)[^"]*"', html) == []


def test_failed_and_missing_cells_are_listed_with_their_reasons_and_escaped(broken_run: Path) -> None:
    """CRASHED and TIMEOUT cells appear in the warnings with their errors (markup escaped), and the cells the
    plan promised but the run lacks are counted."""
    html = render(broken_run)
    warnings = sections(html).text["warnings"]
    assert "CRASHED" in warnings and "worker 1 was killed by SIGKILL" in warnings
    assert "TIMEOUT" in warnings and "killed after 60 s" in warnings
    assert "2 of 27 planned cells have no record" in warnings
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def _tables(tokens: list[Token]) -> Iterator[list[list[str]]]:
    """Each table as rows of cell texts."""
    table: list[list[str]] = []
    for i, token in enumerate(tokens):
        if token.type == "table_open":
            table = []
        elif token.type == "tr_open":
            table.append([])
        elif token.type == "inline" and tokens[i - 1].type in ("th_open", "td_open"):
            table[-1].append(token.content)
        elif token.type == "table_close":
            yield table


def test_markdown_is_valid_tables_and_verdicts(broken_run: Path) -> None:
    """--format md parses into tables whose rows all have the header's width: winners, speedups per variant and
    the warnings with the failed cells; each variant has its verdict bullets."""
    tokens = MarkdownIt().enable("table").parse(render(broken_run, fmt="md"))
    tables = list(_tables(tokens))
    assert len(tables) == 1 + 2 + 1  # winners, one speedup table per variant, warnings
    for rows in tables:
        assert len({len(row) for row in rows}) == 1, rows
    assert tables[0][0] == ["workload", "winner at the largest size", "in words"] and len(tables[0]) == 3
    kinds = [row[0] for row in tables[-1][1:]]
    assert tables[-1][0] == ["warnings", "cell", "why"]
    assert {"WRONG", "CRASHED", "TIMEOUT"} <= set(kinds)
    assert len({row[1] for row in tables[-1][1:]}) == len(tables[-1]) - 1  # one row per cell
    # the run's own notices (cells the plan promised but the run lacks) are bullets above the cells' table
    assert sum(1 for t in tokens if t.type == "bullet_list_open") == 2 + 1


def test_a_baseline_adds_a_comparison_section() -> None:
    """--baseline RUN: the report has a compare section against it (the same run: nothing regressed)."""
    html = render(FIXTURE, baseline=FIXTURE)
    text = sections(html).text["compare"]
    assert "Compared with small" in text and "0 regressed" in text


@pytest.mark.parametrize("case", ["not a run", "empty run", "unwritable output", "output is a folder"])
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path) -> None:
    """A path that is not a run, a run with no record, an output that cannot be written: one line, exit 2."""
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "records.jsonl").touch()
    args = {"not a run": [str(tmp_path)], "empty run": [str(empty)],
            "unwritable output": [str(FIXTURE), "-o", "/proc/parbench-report.html"],
            "output is a folder": [str(FIXTURE), "-o", str(tmp_path)]}[case]
    result = run_cli(["report", *args])
    assert result.rc == 2
    assert result.err.count("\n") == 1 and result.err.startswith("parbench: error: ")
    assert not (FIXTURE / "report.html").exists()


def test_a_report_that_fails_at_the_end_of_a_sweep_is_one_line_and_loses_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The sweep's report step on a run it cannot report (no record) prints one line naming the retry command
    and raises nothing: the run folder is untouched."""
    store = RunStore(tmp_path / "r")
    store.create(RunMeta(run_id="r"))
    from rich.console import Console

    console = Console(file=io.StringIO())
    done = lifecycle.conclude(store.path)
    SweepDisplay(console, console).concluded(done)
    assert not done.failed and done.report_path is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "report not written" in err and f"parbench report {store.path}" in err
    assert sorted(p.name for p in store.path.iterdir()) == ["meta.json", "records.jsonl"]


def test_a_run_where_every_cell_failed_still_reports(tmp_path: Path) -> None:
    """No OK cell at all: the HTML and Markdown reports render, say there is no winner, and list every cell."""
    run = tmp_path / "failed"
    shutil.copytree(FIXTURE, run)
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    for record in records:
        record.update(status="CRASHED", samples=[], error="worker 0 was killed by SIGKILL")
    (run / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    html = render(run)
    assert "no trusted cell" in sections(html).text["winners"]
    assert sections(html).text["warnings"].count("CRASHED") == len(records)
    assert f"Warnings: {len(records)} of {len(records)} cells" in sections(html).text["warnings"]
    assert "| array-sum fill=arange kernel=python | none |" in render(run, fmt="md")


def test_the_end_of_a_sweep_analyses_the_run_once_for_its_tables_and_its_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The closing tables and report.html come from one summary of the run (bootstrap CIs are not redone),
    and the exit status still says a cell failed."""
    import io

    from rich.console import Console

    import parbench.analysis.stats
    import parbench.report.model

    shutil.copytree(FIXTURE, tmp_path / "small")
    calls = []
    real = parbench.analysis.stats.summarize

    def counted(df: Any) -> Any:
        calls.append(1)
        return real(df)

    monkeypatch.setattr(parbench.analysis.stats, "summarize", counted)
    monkeypatch.setattr(parbench.report.model, "summarize", counted)
    console = Console(record=True, width=200, file=io.StringIO())
    done = lifecycle.conclude(tmp_path / "small")
    SweepDisplay(console, console).concluded(done)
    assert done.failed  # the fixture has WRONG cells
    assert len(calls) == 1
    assert (tmp_path / "small" / "report.html").is_file()
    assert "Best strategy per workload point" in console.export_text()
