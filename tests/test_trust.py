"""Saying how much to trust a run: the trust line, and runs written before pairing (schema 1) still read."""

from __future__ import annotations

import json

import pandas as pd

import parbench
from conftest import FIXTURE, ROOT
from parbench.analysis.scaling import annotate
from parbench.analysis.trust import Trust, assess
from parbench.report.html import render as html
from parbench.report.markdown import render as markdown
from parbench.report.model import build
from parbench.results.reader import open_run

QUICK = ROOT / "results" / "fixtures" / "quick"


def test_a_schema_1_run_loads_summarises_and_reports_with_unpaired_speedups() -> None:
    """The committed small run predates pairing: it loads, its speedups are marked unpaired (ratios of two
    probes' medians, with a CI), and both report formats carry the trust line."""
    assert json.loads((FIXTURE / "meta.json").read_text())["schema_version"] == 1
    summary = annotate(parbench.summarize(parbench.load(FIXTURE)))
    parallel = summary[(summary["strategy"] != "sequential") & summary["speedup"].notna()]
    assert len(parallel) and not parallel["paired"].any()
    assert (parallel["speedup_low"] <= parallel["speedup"]).all()
    assert (parallel["speedup"] <= parallel["speedup_high"]).all()
    report = build(open_run(FIXTURE))
    assert "Trust: " in html(report) and "Trust: " in markdown(report)
    assert report.trust.trusted_points == 0  # nothing of it is paired: no verdict rests on paired cells


def test_a_paired_run_says_how_much_to_trust_it() -> None:
    """A real quick run (schema 2): every parallel speedup paired, and the trust line counts its repeats."""
    frame = parbench.load(QUICK)
    summary = annotate(parbench.summarize(frame))
    parallel = summary[summary["strategy"] != "sequential"]
    assert parallel["paired"].all()
    trust = assess(summary, frame)
    assert trust.repeats == int(summary["n"].sum()) and trust.points == 4
    assert trust.line().startswith("Trust: ") and f"of {trust.repeats} timed repeats" in trust.line()


def test_when_most_verdicts_are_doubtful_the_advice_comes_first() -> None:
    """Fewer than half the verdicts on paired, clean cells: advice with what to do; otherwise none."""
    doubtful = Trust(repeats=100, contaminated=0.6, suspect=3, cells=10, drift=1.8, points=4, trusted_points=1)
    fine = Trust(repeats=100, contaminated=0.01, suspect=0, cells=10, drift=1.1, points=4, trusted_points=4)
    assert doubtful.doubtful and "--rounds 5" in str(doubtful.advice()) and "--quiet-wait" in str(doubtful.advice())
    assert not fine.doubtful and fine.advice() is None


def test_the_trust_line_counts_disturbed_repeats_and_suspect_cells() -> None:
    """Weighted by repeats: a cell of 10 repeats half disturbed and one of 30 clean give 5 of 40."""
    keys = [json.dumps({"workload": "w", "params": {}, "strategy": s, "workers": 2, "start_method": None,
                        "options": {}}) for s in "ab"]
    summary = pd.DataFrame({"key": keys, "n": [10, 30], "contaminated_share": [0.5, 0.0], "status": ["OK", "SUSPECT"],
                            "strategy": ["a", "b"], "workers": [2, 2], "median_ns": [1.0, 1.0],
                            "speedup": [1.5, 3.0], "speedup_low": [1.4, 2.9], "speedup_high": [1.6, 3.1],
                            "paired": [True, True], "clean_pairs": [5, 30]})
    trust = assess(summary, pd.DataFrame({"key": [], "visit": [], "slowdown": []}))
    assert trust.contaminated == 5 / 40 and trust.suspect == 1 and trust.cells == 2
