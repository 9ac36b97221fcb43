"""The report tells the truth the same way everywhere (issue 11), read off the committed quick run (schema 2,
workers 1 and 2, 12 strategies, 92 cells): one colour per strategy in every figure, warnings counted in cells
and matching the every-cell table, no Amdahl fit through two worker counts, and the terminal's best strategy
equal to the report's winner at every workload point."""

from __future__ import annotations

import html as html_lib
import io
import re
import subprocess
import sys
from collections import Counter

import pandas as pd
import pytest
from rich.console import Console

from conftest import ROOT
from parbench.analysis.scaling import SIZE, fits, size_text
from parbench.report import terminal as tables
from parbench.report.html import render
from parbench.report.model import Report, build
from parbench.report.style import KNOWN, series_styles, strategy_style
from parbench.results.reader import open_run

QUICK = ROOT / "results" / "fixtures" / "quick"
SERIES = re.compile(r'<g id="([a-z]+)(\d+):([^"]+)">(.*?)</g>', re.S)
COLOUR = re.compile(r"(?:stroke|fill): (#[0-9a-fA-F]{6})")


@pytest.fixture(scope="module")
def report() -> Report:
    return build(open_run(QUICK))


@pytest.fixture(scope="module")
def page(report: Report) -> str:
    return render(report)


def test_every_strategy_has_one_colour_in_every_figure(report: Report, page: str) -> None:
    """Every series drawn (lines, bars, legends of both workloads) has its strategy's colour from style.py,
    and each of the 12 strategies is drawn in the time, speedup, efficiency, utilisation figures and legend."""
    seen: dict[str, set[str]] = {}
    figures: dict[str, set[str]] = {}
    for figure, _panel, raw, body in SERIES.findall(page):
        label = html_lib.unescape(raw).replace("_", " ")
        seen.setdefault(label, set()).update(c.upper() for c in COLOUR.findall(body))  # line, markers, bar
        figures.setdefault(label, set()).add(figure)
    style = series_styles(report.summary)
    assert seen == {label: {style[label].colour} for label in style}
    assert len(seen) == 12
    assert {label: {"time", "speedup", "efficiency", "legend"} <= found and ("utilisation" in found) ==
            (label != "sequential") for label, found in figures.items()} == {label: True for label in seen}
    assert {label: strategy_style(label).colour for label in seen} == {label: KNOWN[label][0] for label in seen}


def test_the_palette_gives_every_known_strategy_its_own_look_and_plugins_a_stable_one() -> None:
    """No two built-in strategies share colour and marker; a plugin strategy gets its family's hue group and
    the same colour and marker in another interpreter (hash() is salted per process, the fallback is not)."""
    assert len(set(KNOWN.values())) == len(KNOWN) and len({c for c, _ in KNOWN.values()}) == len(KNOWN)
    here = strategy_style("my-plugin-pool", "processes")
    code = ("from parbench.report.style import strategy_style as s; "
            "x = s('my-plugin-pool', 'processes'); print(x.colour, x.marker)")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert there == [here.colour, here.marker]
    assert strategy_style("unknown-family-thing", "quantum").colour in ("#BBBBBB", "#888888", "#666666")


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def _rows(table: str) -> list[list[str]]:
    return [[_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table, re.S) if "<td" in row]


def test_warnings_are_counted_in_cells_and_match_the_every_cell_table(report: Report, page: str) -> None:
    """One warning row per cell (the fixture: 74 cells, more than one reason for some), the same count in the
    header, the warnings heading and the every-cell table's warnings column, kind for kind."""
    warnings = page[page.index('<section id="warnings">'):page.index('<section id="environment">')]
    cells = page[page.index('<section id="cells">'):]
    flagged = [row for table in re.findall(r'<table class="notices">(.*?)</table>', warnings, re.S)
               for row in _rows(table)]
    every = _rows(re.search(r'<table class="cells">(.*?)</table>', cells, re.S).group(1))  # type: ignore[union-attr]
    assert len(every) == 92
    warned = [row[4] for row in every if row[4]]
    assert len(flagged) == len({row[0] for row in flagged}) == len(warned) == 74
    assert Counter(k for row in flagged for k in row[1].split(", ")) == Counter(
        k for kinds in warned for k in kinds.split(", "))
    assert "Warnings: 74 of 92 cells" in warnings and "74 of 92 cells with warnings" in page
    assert len(report.notices) > 74  # the warnings themselves: some cells have several


def test_a_two_worker_count_run_shows_no_amdahl_f(page: str) -> None:
    """Workers 1 and 2: no fitted f anywhere (figures, tables, verdicts), and the caption says why."""
    assert "Amdahl f =" not in page and "Amdahl f</th>" not in page and "serial fraction f =" not in page
    assert "No Amdahl fit: 2 worker count(s) measured (1, 2)" in page


def test_three_worker_counts_make_a_fit_meaningful() -> None:
    """The same rule from the other side: a series over 1, 2 and 4 workers gets a fit that is shown."""
    rows = pd.DataFrame({"status": "OK", "point": "p", "series": "s", "variant": "v", "label": "x", SIZE: 10,
                         "workers": [1, 2, 4], "speedup": [1.0, 1.8, 3.0], "self_speedup": [1.0, 1.8, 3.0]})
    found = fits(rows)
    assert list(found["meaningful"]) == [True]
    assert list(fits(rows[rows["workers"] < 4])["meaningful"]) == [False]


def test_the_terminal_best_strategy_is_the_report_winner_at_every_point(report: Report, page: str) -> None:
    """The terminal's best-strategy table and the report's winner-at-each-size tables say the same at each of
    the 4 workload points, and each headline card names the winner of its variant's largest size."""
    console = Console(record=True, width=250, file=io.StringIO())
    console.print(tables.best_table(report.summary))
    terminal = {cols[0]: cols[1] for line in console.export_text().splitlines()
                if (cols := [c.strip() for c in line.split("│")[1:-1]]) and len(cols) == 5}
    names = tables._points(report.summary)
    in_report, expected = {}, {}
    for workload in report.workloads:
        for variant in workload.variants:
            heading = re.escape(f"<h4>{variant.title}: winner at each size</h4>")
            found = re.search(heading + r'.*?<table class="winners">(.*?)</table>', page, re.S)
            for size, winner, *_ in _rows(found.group(1)):  # type: ignore[union-attr]
                in_report[(variant.title, size)] = winner
            for point, rows in variant.rows.groupby("point"):
                name = names[str(point)].replace("\n", " ")
                expected[(variant.title, size_text(rows[SIZE].iloc[0]))] = terminal[name]
            largest = size_text(variant.rows[SIZE].max())
            assert in_report[(variant.title, largest)].startswith(variant.headline.winner)
    assert len(expected) == 4 and in_report == expected
    assert set(terminal.values()) == {"sequential (closest: thread-pool x1)", "sequential (closest: threads x1)",
                                      "none clearly: thread-pool x2 ~ threads x2"}


def test_names_at_line_ends_are_spread_apart_around_their_lines() -> None:
    """Three names aiming at one spot sit one gap apart centred on it; a name far away stays on its line."""
    from parbench.report.plots import spread

    assert spread([0.0, 1.0, 2.0, 50.0, 51.0, 100.0], 10.0) == [-9.0, 1.0, 11.0, 45.5, 55.5, 100.0]
    assert spread([5.0, 5.0, 5.0], 2.0) == [3.0, 5.0, 7.0]


def test_each_headline_card_quotes_the_terminal_figures_of_its_winner(report: Report, page: str) -> None:
    """The card of each variant prints the paired speedup and CI the terminal prints for its largest size:
    sequential's closest rival at 0.97x (0.91-1.03) for array-sum, the tie at 1.90x (1.83-1.94) for
    delayed-square."""
    cards = [_text(card) for card in re.findall(r'<a class="card[^>]*>(.*?)</a>', page, re.S)]
    assert len(cards) == 2
    assert "sequential" in cards[0] and "closest: threads x1 0.97x (95% CI 0.91-1.03, paired)" in cards[0]
    assert "none clearly" in cards[1] and "thread-pool x2 1.90x (95% CI 1.83-1.94, paired)" in cards[1]
    assert "threads x2 1.85x are within the noise" in cards[1] and "size 8, 2 workers" in cards[1]


def test_efficiency_above_100_percent_at_one_worker_is_explained(report: Report) -> None:
    """A one-worker cell at 104% efficiency (within its CI of sequential) is named in the efficiency caption
    with its CI and why it is noise; the fixture as measured has none, and no note."""
    from dataclasses import replace

    from parbench.report.html import _one_worker_note

    workload = report.workloads[0]
    assert _one_worker_note(workload) == ""
    variant = workload.variants[0]
    rows = variant.rows.copy()
    one = (rows["strategy"] == "threads") & (rows["workers"] == 1) & (rows[SIZE] == rows[SIZE].max())
    rows.loc[one, ["efficiency", "speedup_low", "speedup_high"]] = [1.04, 0.97, 1.11]
    note = _one_worker_note(replace(workload, variants=(replace(variant, rows=rows),)))
    assert note.startswith(" Above 100% at one worker: threads 104% (95% CI 0.97-1.11x).")
    assert "noise" in note and "SUSPECT" in note
