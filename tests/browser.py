"""The report in a real browser: Debian's `chromium` (installed when missing), driven by
Playwright (which never downloads browsers of its own here).

    python -m tests.browser docs/report.png   # the README's screenshot, a simulated year

`simulated_report` writes a report the way a user does (simulate, replay, `streamer report`);
`check_report` opens it from a file:// URL and returns what is wrong with it: a console
error, a page error, a request for anything but the page itself, a chart section missing
or without a drawn <svg>.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# the report's sections, in order, each with one chart (streamer/report/html.py)
SECTIONS = ["book", "delinquency", "roll_rates", "vintages", "tiers", "alerts", "segments",
            "quality"]


def ensure_chromium() -> str:
    """The path of Debian's `chromium`, installed with apt-get if missing; the test fails
    (never skips) when it cannot be."""
    if not shutil.which("chromium"):
        try:
            for cmd in (["apt-get", "install", "-y", "-q", "chromium"],
                        ["apt-get", "update", "-q"],
                        ["apt-get", "install", "-y", "-q", "chromium"]):
                if shutil.which("chromium"):
                    break
                subprocess.run(cmd, capture_output=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
    path = shutil.which("chromium")
    if not path:
        pytest.fail("chromium is not installed and `apt-get install chromium` did not work "
                    "(run ./dev.sh setup as root)", pytrace=False)
    return path


def simulated_report(workdir: Path, borrowers: int = 200, days: int = 120, seed: int = 1,
                     scenario: str = "baseline") -> Path:
    """Simulate a book, replay it (alerts and scores), run `streamer report`; report.html."""
    from streamer.cli import main
    from streamer.replay import replay
    from streamer.simulate import generate
    from streamer.simulate.command import write_jsonl

    workdir.mkdir(parents=True, exist_ok=True)
    events, alerts, scores = (workdir / n for n in ("events.jsonl", "alerts.jsonl",
                                                    "scores.jsonl"))
    write_jsonl(generate(scenario, borrowers=borrowers, days=days, seed=seed), events,
                workdir / "truth.jsonl")
    with open(alerts, "wb") as a, open(scores, "wb") as s:
        replay(events, alerts=a, scores=s)
    out = workdir / "report"
    rc = main(["report", "--events", str(events), "--alerts", str(alerts), "--scores",
               str(scores), "--out", str(out)])
    assert rc == 0
    return out / "report.html"


def check_report(browser, html: Path, screenshot: Path | None = None,
                 width: int = 1100, scale: float = 1) -> list[str]:
    """Problems with `html` in `browser` (a Playwright Browser); [] when none. Saves a
    full-page screenshot to `screenshot` if given."""
    url = html.resolve().as_uri()
    problems: list[str] = []
    page = browser.new_page(viewport={"width": width, "height": 900},
                            device_scale_factor=scale)
    page.on("console", lambda m: m.type in ("error", "assert") and problems.append(
        f"console {m.type}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: r.url != url and not r.url.startswith("data:")
            and problems.append(f"request for {r.url}"))
    try:
        page.goto(url, wait_until="load")
        found = page.eval_on_selector_all("section[id]", "els => els.map(e => e.id)")
        if found != SECTIONS:
            problems.append(f"sections {found}, expected {SECTIONS}")
        for key in SECTIONS:
            svg = page.locator(f"section#{key} svg")
            if svg.count() != 1:
                problems.append(f"section {key}: {svg.count()} <svg>, expected 1")
                continue
            box = svg.bounding_box()
            if not box or box["width"] < 50 or box["height"] < 50:
                problems.append(f"section {key}: chart box {box}")
            drawn = svg.locator("path, rect, line, polyline, polygon, use").count()
            if not drawn:
                problems.append(f"section {key}: the chart draws nothing")
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        page.close()
    return problems


def launch(playwright):
    return playwright.chromium.launch(executable_path=ensure_chromium(), args=["--no-sandbox"])


def _readme_screenshot(target: Path) -> None:
    """The README's picture: the report of a simulated year, 1,000 borrowers (a full-page
    screenshot at 3/4 scale, in 256 colours to keep it small)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        html = simulated_report(Path(tmp), borrowers=1000, days=365, seed=7,
                                scenario="industry_downturn")
        with sync_playwright() as p:
            browser = launch(p)
            try:
                problems = check_report(browser, html, target, width=1100, scale=0.75)
            finally:
                browser.close()
    if problems:
        sys.exit("\n".join(problems))
    from PIL import Image  # 256 colours: a third of the size, the same picture

    Image.open(target).quantize(256, method=Image.Quantize.MEDIANCUT,
                                dither=Image.Dither.NONE).save(target, optimize=True)
    print(f"{target} ({target.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    _readme_screenshot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/report.png"))
