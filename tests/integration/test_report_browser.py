"""The report in a real browser (Debian's chromium through Playwright, tests/browser.py).

A simulated book is replayed and `streamer report` writes report.html; headless Chromium
opens it from a file:// URL. Any console error, page error or request for another resource
fails the test, and so does a chart section without a drawn <svg> of non-zero size. A
full-page screenshot is saved under the test's tmp_path. The last test breaks copies of
the page (a chart removed, a script's error) to show that the check sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.browser import check_report, launch, simulated_report


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return simulated_report(tmp_path_factory.mktemp("report"))


def test_report_renders_in_chromium(browser, report_html: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    problems = check_report(browser, report_html, shot)
    print(f"screenshot: {shot}")
    assert problems == [], f"{problems} (screenshot: {shot})"
    assert shot.stat().st_size > 10_000


def test_the_check_sees_a_lost_chart_and_a_script_error(browser, report_html: Path,
                                                        tmp_path: Path) -> None:
    page = report_html.read_text(encoding="utf-8")
    start = page.index('<section id="vintages">')
    svg_at = page.index("<svg", start)
    lost = page[:svg_at] + page[page.index("</svg>", svg_at) + len("</svg>"):]
    scripted = page.replace("</body>", '<script>console.error("broken");'
                            "undefined_function();</script></body>")
    fetching = page.replace("</body>", '<img src="https://example.invalid/x.png"></body>')
    cases = {"lost.html": (lost, "section vintages: 0 <svg>"),
             "scripted.html": (scripted, "console error: broken"),
             "fetching.html": (fetching, "request for https://example.invalid/x.png")}
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        problems = check_report(browser, path)
        assert any(expected in p for p in problems), (name, problems)
    assert any(p.startswith("page error:") and "undefined_function" in p
               for p in check_report(browser, tmp_path / "scripted.html"))
