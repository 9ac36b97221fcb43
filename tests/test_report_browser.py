"""The HTML report in a real headless Chromium (Debian's `chromium`, or the `google-chrome` of GitHub's runners,
driven by Playwright): every figure renders, no broken image, no console error, no request leaves the file; a
screenshot is saved in the test's tmp dir.

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

from conftest import FIXTURE, QuickRun, needs_a_sweep, proc_text, skip_unless_no_skip
from parbench.report.model import build
from parbench.report.output import renderer
from parbench.results.reader import open_run

pytestmark = pytest.mark.browser

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
