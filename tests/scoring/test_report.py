"""The HTML report: self-contained, one chart element per band, escaped text."""

from __future__ import annotations

import re

import pytest

from scoring.calibrate import Row, summarize
from scoring.report import band_chart, calibration_chart, reliability_chart, render

ROWS = [Row(str(i), score, i % 3 == 0) for i, score in enumerate(range(0, 100, 5))]


def test_report_is_self_contained() -> None:
    html = render(summarize(ROWS, "m", 1, 80, {}))
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "<link" not in html and "@import" not in html
    assert "url(" not in html
    # the only URL is the SVG namespace, which is a name, not a fetch
    assert set(re.findall(r"https?://[^\"' ]+", html)) == {"http://www.w3.org/2000/svg"}


def test_report_draws_three_charts_per_model() -> None:
    summary = summarize(ROWS, "m", 1, 80, {}, bands=4)
    html = render(summary)
    assert html.count('class="chart"') == 3
    bands = re.search(r'data-chart="bands".*?</svg>', html, re.S)
    assert bands is not None and bands.group(0).count('class="bar"') == 4
    calibration = re.search(r'data-chart="calibration".*?</svg>', html, re.S)
    assert calibration is not None and calibration.group(0).count('class="point"') == 4
    # 10 buckets, a converted and a not-converted bar in each
    dist = re.search(r'data-chart="distribution".*?</svg>', html, re.S)
    assert dist is not None and dist.group(0).count('class="bar ') == 20


def test_report_with_comparison_shows_both_models() -> None:
    a = summarize(ROWS, "old", 1, 80, {})
    b = summarize(ROWS, "new", 2, 60, {})
    html = render(a, b)
    assert html.count('class="chart"') == 6
    assert "Side by side" in html and "old v1" in html and "new v2" in html


def test_text_is_escaped() -> None:
    html = render(summarize(ROWS, "m", "<b>", 80, {"<rule>": 5}))
    assert "<b>" not in html.replace("<b>", "", html.count('<div class="tile"><b>'))
    assert "&lt;rule&gt;" in html


def test_bar_heights_follow_the_rates() -> None:
    summary = summarize(ROWS, "m", 1, 80, {}, bands=2)
    found = re.findall(r'class="bar".*?height="([0-9.]+)"', band_chart(summary.bands))
    heights = [float(h) for h in found]
    rates = [b.rate for b in summary.bands]  # 0.4 and 0.3
    assert heights[0] / heights[1] == pytest.approx(rates[0] / rates[1], rel=1e-3)
    assert 'class="point"' in calibration_chart(summary.bands)


def test_a_calibrated_model_gets_its_brier_score_and_reliability() -> None:
    rows = [Row("a", 10, False), Row("b", 10, True), Row("c", 90, True), Row("d", 90, True)]
    expected = {10: 0.25, 90: 0.75}.__getitem__
    summary = summarize(rows, "m", 1, 80, {}, bands=2, expected=expected)
    # (0.25-0)^2 + (0.25-1)^2 + 2 * (0.75-1)^2 = 0.0625 + 0.5625 + 0.125
    assert summary.brier == pytest.approx(0.75 / 4)
    assert summary.reliability == [
        {"low": 10, "high": 10, "expected": 0.25, "observed": 0.5},
        {"low": 90, "high": 90, "expected": 0.75, "observed": 1.0},
    ]
    html = render(summary)
    assert "Reliability: expected vs observed" in html and "0.1875" in html
    chart = reliability_chart(summary.reliability)
    assert 'data-chart="reliability"' in html and chart.count('class="point"') == 2
    assert 'class="diagonal"' in chart
    # both bands converted more than expected: each point sits above the diagonal (smaller y)
    diagonal = re.search(r'x1="([0-9.]+)" y1="([0-9.]+)" x2="([0-9.]+)" y2="([0-9.]+)"', chart)
    assert diagonal is not None
    x1, y1, x2, y2 = map(float, diagonal.groups())
    for cx, cy in re.findall(r'cx="([0-9.]+)" cy="([0-9.]+)"', chart):
        on_diagonal = y1 + (float(cx) - x1) * (y2 - y1) / (x2 - x1)
        assert float(cy) < on_diagonal
    assert summary.to_dict()["brier"] == 0.1875
    assert "Reliability" not in render(summarize(rows, "m", 1, 80, {}, bands=2))
