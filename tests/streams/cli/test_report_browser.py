"""The calibration report in a real headless Chromium: no errors, and the charts really render."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.cli import app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def _report(tmp_path: Path) -> Path:
    runner = CliRunner()
    world = tmp_path / "world"
    made = runner.invoke(
        app, ["simulate", "--leads", "2000", "--days", "45", "--seed", "5", "--out", str(world)]
    )
    assert made.exit_code == 0, made.output
    report = tmp_path / "report.html"
    result = runner.invoke(
        app,
        [
            "calibrate",
            "--events",
            str(world / "events.jsonl"),
            "--outcomes",
            str(world / "outcomes.csv"),
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    return report


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is missing: run `ops/apt-ensure chromium chromium`")
    playwright = pytest.importorskip("playwright.sync_api")
    report = _report(tmp_path)
    errors: list[str] = []
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1240, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            charts = page.locator("svg.chart")
            assert charts.count() == 3
            for i in range(3):
                box = charts.nth(i).bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 100
            bars = page.locator('svg[data-chart="bands"] rect.bar')
            assert bars.count() == 5
            boxes = [bars.nth(i).bounding_box() for i in range(5)]
            heights = [b["height"] for b in boxes if b is not None]
            assert all(h > 0 for h in heights)
            assert heights[-1] > heights[0]  # the top band converts more, and it shows
            assert page.locator('svg[data-chart="calibration"] circle.point').count() == 5
            assert page.locator('svg[data-chart="distribution"] rect.bar').count() == 20
            assert "Healthy" in page.inner_text(".verdict")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "calibration-report.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert requests == [report.as_uri()]  # self-contained: nothing else is fetched
