"""The HTML report in a real headless Chromium (Debian's `chromium`, or the `google-chrome` of GitHub's runners,
driven by Playwright): every figure renders, no broken image, no console error, no request leaves the file.

At a projector's 1280x800 (issue 11): every headline card lies in the first screen, figure text renders at
12 px or more (median), every figure spans 80% of the content column or more, every series' line is 2 px or
more, and nothing but a scroll box's content runs past the page's width. Full-page screenshots and the report
itself are saved in the folder $PARBENCH_SCREENSHOTS names (CI uploads it) or else in the test's tmp dir.

Skipped, with a one-line reason, where no Chromium is installed; .ci/run and ci.yml install one and set
PARBENCH_NO_SKIP=1, under which a missing browser (or Playwright) fails the test instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import FIXTURE, ROOT, QuickRun, needs_a_sweep, proc_text, skip_unless_no_skip
from parbench.report.model import build
from parbench.report.output import renderer
from parbench.results.reader import open_run

# One xdist worker runs every test that reads the session's quick run (conftest.quick_run), so it is swept once.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("quick_run")]

QUICK_FIXTURE = ROOT / "results" / "fixtures" / "quick"
SCREENSHOTS_ENV = "PARBENCH_SCREENSHOTS"
PROJECTOR = {"width": 1280, "height": 800}
MIN_TEXT_PX = 12
MIN_FIGURE_SHARE = 0.8
MIN_LINE_PX = 2

# Playwright's own browsers are never downloaded here: it drives the system's Chromium, kept off the network.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium() -> str | None:
    """Debian's chromium, else Google Chrome (preinstalled on GitHub's Ubuntu runners), else Ubuntu's
    chromium-browser (there, often only a launcher for the snap)."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("google-chrome"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, closed (with every process of it) at the end."""
    path = chromium()
    if path is None:
        skip_unless_no_skip("no chromium on this machine (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_unless_no_skip("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=path, args=ARGS)
        yield launched
        launched.close()
    children = psutil.Process().children(recursive=True)
    leftovers = [p for p in children if "chrom" in (proc_text(p, "name") or "").lower()]
    assert leftovers == []


def check_page(browser: Any, html: Path, screenshot: Path) -> dict[str, int]:
    """Load the report; return counts of what rendered, after asserting nothing failed."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: None if request.url.startswith(("file:", "data:", "about:"))
            else errors.append(f"request to {request.url}"))
    page.goto(html.as_uri(), wait_until="load")
    broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length")
    boxes = page.evaluate("Array.from(document.querySelectorAll('figure svg'))"
                          ".map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; })")
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    assert errors == []
    assert broken == 0
    assert boxes and all(w > 100 and h > 100 for w, h in boxes), boxes
    assert screenshot.stat().st_size > 10_000
    return {"figures": len(boxes)}


def test_the_fixture_report_renders_in_chromium(browser: Any, tmp_path: Path) -> None:
    """The committed fixture run's report: 11 figures drawn, no error, no request, a screenshot saved."""
    html = tmp_path / "report.html"
    html.write_text(renderer("html")(build(open_run(FIXTURE))), encoding="utf-8")
    assert check_page(browser, html, tmp_path / "fixture.png") == {"figures": 11}


@needs_a_sweep
def test_a_quick_run_report_renders_in_chromium(browser: Any, quick_run: QuickRun, tmp_path: Path) -> None:
    """The report a fresh quick sweep wrote: every figure drawn, no error, no request, a screenshot saved."""
    assert check_page(browser, quick_run.path / "report.html", tmp_path / "quick.png") == {"figures": 11}


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $PARBENCH_SCREENSHOTS (CI uploads that folder) or a tmp dir."""
    named = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(named) if named else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Measured in the page once it has loaded; the page has no script of its own, this is the test's.
MEASURE = """() => {
  const column = document.body.clientWidth - parseFloat(getComputedStyle(document.body).paddingLeft)
      - parseFloat(getComputedStyle(document.body).paddingRight);
  const cards = Array.from(document.querySelectorAll('.card')).map(c => c.getBoundingClientRect().bottom);
  const heights = Array.from(document.querySelectorAll('figure svg text'))
      .map(t => t.getBoundingClientRect().height).filter(h => h > 0).sort((a, b) => a - b);
  const widths = Array.from(document.querySelectorAll('figure svg')).map(s => s.getBoundingClientRect().width);
  const lines = Array.from(document.querySelectorAll('figure svg g[id*=":"] > path'))
      .filter(p => getComputedStyle(p).stroke !== 'none').map(p => {
    const svg = p.ownerSVGElement;
    return parseFloat(getComputedStyle(p).strokeWidth) * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  }).filter(w => w > 0);
  return {column, cards, median: heights[Math.floor(heights.length / 2)], texts: heights.length, widths,
          thinnest: Math.min(...lines), lines: lines.length};
}"""
# Every element whose right edge passes the viewport's, unless a scroll box (overflow-x auto or scroll) holds it.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const inScrollBox = e => { for (let p = e.parentElement; p; p = p.parentElement) {
    if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) return true; } return false; };
  const out = Array.from(document.body.querySelectorAll('*')).filter(e => {
    const r = e.getBoundingClientRect(); return r.width > 0 && r.right > width + 0.5 && !inScrollBox(e); });
  return {page: document.documentElement.scrollWidth - width,
          elements: out.slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.getBoundingClientRect().right)};
}"""


def check_projected(browser: Any, html: Path, folder: Path, name: str) -> dict[str, Any]:
    """The report at 1280x800: what a projector shows. Saves the first screen, the full page as it opens and
    the full page with every detail unfolded; returns the measurements after asserting on them."""
    shutil.copy(html, folder / f"{name}.html")
    page = browser.new_page(viewport=PROJECTOR)
    page.goto(html.as_uri(), wait_until="load")
    page.screenshot(path=str(folder / f"{name}-1280-first.png"))
    page.screenshot(path=str(folder / f"{name}-1280-full.png"), full_page=True)
    found = page.evaluate(MEASURE)
    closed = page.evaluate(OVERFLOWING)
    page.evaluate("() => document.querySelectorAll('details').forEach(d => { d.open = true; })")
    unfolded = page.evaluate(OVERFLOWING)
    page.screenshot(path=str(folder / f"{name}-1280-unfolded.png"), full_page=True)
    page.close()
    assert found["cards"] and max(found["cards"]) <= PROJECTOR["height"], found["cards"]
    assert found["texts"] > 100 and found["median"] >= MIN_TEXT_PX, found["median"]
    assert found["widths"] and min(found["widths"]) >= MIN_FIGURE_SHARE * found["column"], found
    assert found["lines"] > 50 and found["thinnest"] >= MIN_LINE_PX, found["thinnest"]  # every series' line
    assert closed == {"page": 0, "elements": []} and unfolded == {"page": 0, "elements": []}, (closed, unfolded)
    assert all((folder / f"{name}-1280-{kind}.png").stat().st_size > 10_000 for kind in ("first", "full", "unfolded"))
    return found


def test_the_committed_quick_run_report_reads_at_projector_size(browser: Any, screenshots: Path,
                                                                 tmp_path: Path) -> None:
    """The committed quick run (2 workloads, 12 strategies): cards in the first 800 px, text >= 12 px, figures
    >= 80% of the column, nothing past the page's edge; 11 figures measured."""
    html = tmp_path / "report.html"
    html.write_text(renderer("html")(build(open_run(QUICK_FIXTURE))), encoding="utf-8")
    found = check_projected(browser, html, screenshots, "fixture-quick")
    assert len(found["cards"]) == 2 and len(found["widths"]) == 11


@needs_a_sweep
def test_a_fresh_quick_run_report_reads_at_projector_size(browser: Any, quick_run: QuickRun, screenshots: Path) -> None:
    """The report a fresh quick sweep wrote, at 1280x800: the same checks, its screenshots saved for CI."""
    found = check_projected(browser, quick_run.path / "report.html", screenshots, "quick")
    assert len(found["cards"]) == 2 and len(found["widths"]) == 11
