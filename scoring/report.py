"""The calibration report: one self-contained HTML page for sales operations.

Everything is inline (styles and SVG charts drawn here in Python), with no scripts, fonts or
external links, so the page can be mailed, archived or opened offline and looks the same anywhere.
Three charts answer the questions people ask of a scoring model: do higher bands convert more
(conversion rate by band), do converted leads score higher (score distribution of converted vs
not), and does a higher score mean a proportionally higher chance (the calibration curve).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from scoring.calibrate import Band, Summary, format_comparison

W, H = 560, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 20, 48
BLUE, ORANGE, GREY = "#2563eb", "#ea580c", "#6b7280"

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#111827;
background:#f9fafb}
main{max-width:1200px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
p.sub{color:#4b5563;margin:0 0 16px}
.verdict{padding:12px 16px;border-radius:8px;margin:12px 0;font-size:15px}
.ok{background:#dcfce7;border:1px solid #86efac}.bad{background:#fef3c7;border:1px solid #fcd34d}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.tile{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:150px}
.tile b{display:block;font-size:22px}.tile span{color:#4b5563;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:0;padding:8px}
figcaption{font-size:13px;color:#374151;padding:4px 8px 0;max-width:540px}
table{border-collapse:collapse;background:#fff;font-size:14px}
th,td{border:1px solid #e5e7eb;padding:4px 10px;text-align:right}th{background:#f3f4f6}
td:first-child,th:first-child{text-align:left}
pre{background:#fff;border:1px solid #e5e7eb;padding:12px;border-radius:8px;overflow:auto}
svg text{font-size:11px;fill:#374151}
"""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value`` (0.05, 0.1, 0.2, 0.25, 0.5, 1 ...)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)  # pragma: no cover


def _frame(y_max: float, y_label: str, x_label: str, percent: bool = True) -> list[str]:
    """Axes, horizontal grid lines and labels of a chart whose y axis runs 0..y_max."""
    plot_h = H - TOP - BOTTOM
    out = []
    for i in range(5):
        value = y_max * i / 4
        y = TOP + plot_h - plot_h * i / 4
        text = _pct(value) if percent else f"{value:g}"
        out.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e7eb"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{H - BOTTOM}" stroke="{GREY}"/>')
    out.append(
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" stroke="{GREY}"/>'
    )
    out.append(
        f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    out.append(
        f'<text transform="translate(14 {(TOP + H - BOTTOM) / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    return out


def _svg(name: str, title: str, body: Sequence[str]) -> str:
    return (
        f'<svg class="chart" data-chart="{name}" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {W} {H}" width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def band_chart(bands: Sequence[Band]) -> str:
    """Conversion rate per score band, lowest band on the left, with the leads in each."""
    y_max = _nice_max(max((b.rate for b in bands), default=0.0))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    body = _frame(y_max, "conversion rate", "score band (number of leads)")
    slot = plot_w / max(len(bands), 1)
    for i, b in enumerate(bands):
        h = plot_h * b.rate / y_max
        x = LEFT + i * slot + slot * 0.15
        y = TOP + plot_h - h
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{max(h, 0.5):.1f}" fill="{BLUE}"><title>{b.low}-{b.high}: '
            f"{b.conversions} of {b.leads} converted ({_pct(b.rate)})</title></rect>"
        )
        cx = LEFT + i * slot + slot / 2
        body.append(
            f'<text x="{cx:.1f}" y="{y - 4:.1f}" text-anchor="middle">{_pct(b.rate)}</text>'
        )
        body.append(
            f'<text x="{cx:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">{b.low}-{b.high}</text>'
        )
        body.append(
            f'<text x="{cx:.1f}" y="{H - BOTTOM + 26}" text-anchor="middle">({b.leads})</text>'
        )
    return _svg("bands", "Conversion rate by score band", body)


def distribution_chart(buckets: Sequence[dict[str, int]]) -> str:
    """Share of converted and of not-converted leads per score bucket, side by side."""
    conv = sum(b["converted"] for b in buckets) or 1
    lost = sum(b["not_converted"] for b in buckets) or 1
    shares = [(b["converted"] / conv, b["not_converted"] / lost) for b in buckets]
    y_max = _nice_max(max((max(s) for s in shares), default=0.0))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    body = _frame(y_max, "share of the group", "score")
    slot = plot_w / max(len(buckets), 1)
    for i, (b, pair) in enumerate(zip(buckets, shares, strict=True)):
        for j, (share, colour, group) in enumerate(
            zip(pair, (ORANGE, GREY), ("converted", "not converted"), strict=True)
        ):
            h = plot_h * share / y_max
            x = LEFT + i * slot + slot * (0.1 + 0.4 * j)
            body.append(
                f'<rect class="bar {group.replace(" ", "-")}" x="{x:.1f}" '
                f'y="{TOP + plot_h - h:.1f}" width="{slot * 0.4:.1f}" height="{max(h, 0.5):.1f}" '
                f'fill="{colour}"><title>{group}, score {b["low"]}-{b["high"]}: {_pct(share)}'
                "</title></rect>"
            )
        body.append(
            f'<text x="{LEFT + i * slot + slot / 2:.1f}" y="{H - BOTTOM + 14}" '
            f'text-anchor="middle">{b["low"]}</text>'
        )
    for j, (colour, label) in enumerate(((ORANGE, "converted"), (GREY, "not converted"))):
        x = LEFT + 12 + j * 110
        body.append(f'<rect x="{x}" y="{TOP}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{x + 14}" y="{TOP + 9}">{label}</text>')
    return _svg("distribution", "Score distribution: converted vs not converted", body)


def calibration_chart(bands: Sequence[Band]) -> str:
    """Observed conversion rate against the mean score of each band (one point per band)."""
    y_max = _nice_max(max((b.rate for b in bands), default=0.0))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    body = _frame(y_max, "conversion rate", "average score in the band")
    for tick in range(0, 101, 20):
        x = LEFT + plot_w * tick / 100
        body.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">{tick}</text>')
    points = [
        (LEFT + plot_w * b.mean_score / 100, TOP + plot_h - plot_h * b.rate / y_max, b)
        for b in bands
    ]
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        body.append(f'<polyline points="{path}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
    for x, y, b in points:
        body.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{BLUE}"><title>'
            f"average score {b.mean_score:.1f}: {_pct(b.rate)} converted</title></circle>"
        )
    return _svg("calibration", "Calibration: conversion rate by average score", body)


def reliability_chart(reliability: Sequence[Mapping[str, float]]) -> str:
    """Observed against expected conversion per band, with the diagonal a perfectly calibrated
    model would sit on: a point above it converted more than the model promised."""
    top = max((max(r["expected"], r["observed"]) for r in reliability), default=0.0)
    y_max = _nice_max(top)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    body = _frame(y_max, "observed conversion", "expected conversion")
    for i in range(5):
        x = LEFT + plot_w * i / 4
        body.append(
            f'<text x="{x:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">'
            f"{_pct(y_max * i / 4)}</text>"
        )
    body.append(
        f'<line class="diagonal" x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP}" '
        f'stroke="{GREY}" stroke-dasharray="4 4"/>'
    )
    for r in reliability:
        x = LEFT + plot_w * r["expected"] / y_max
        y = TOP + plot_h - plot_h * r["observed"] / y_max
        body.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{ORANGE}"><title>'
            f"scores {r['low']:g}-{r['high']:g}: expected {_pct(r['expected'])}, observed "
            f"{_pct(r['observed'])}</title></circle>"
        )
    return _svg("reliability", "Reliability: observed against expected conversion", body)


def _tiles(s: Summary) -> str:
    times = "\N{MULTIPLICATION SIGN}"
    lift = "n/a" if s.lift is None else "∞" if math.isinf(s.lift) else f"{s.lift:.1f}{times}"
    auc = "n/a" if s.auc is None else f"{s.auc:.3f}"
    hot = s.hot
    hot_rate = hot.above_conversions / hot.above_leads if hot.above_leads else 0.0
    tiles = [
        (f"{s.leads:,}", f"{s.subject} scored"),
        (_pct(s.conversions / s.leads if s.leads else 0.0), "converted overall"),
        (lift, "lift: top band vs bottom band"),
        (auc, "ROC AUC (0.5 = coin flip)"),
        (_pct(hot_rate), f"converted among hot {s.subject} (score ≥ {hot.threshold})"),
    ]
    if s.catch is not None:
        tiles.append((str(s.catch.threshold), f"cut-off catching {s.catch_share:.0%} of deals"))
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for v, k in tiles
        )
        + "</div>"
    )


def _band_table(title: str, bands: Sequence[Band], subject: str = "leads") -> str:
    rows = "".join(
        f"<tr><td>{b.low}-{b.high}</td><td>{b.leads:,}</td><td>{b.conversions:,}</td>"
        f"<td>{_pct(b.rate)}</td></tr>"
        for b in bands
    )
    return (
        f"<table><caption>{escape(title)}</caption><tr><th>score</th><th>{subject}</th>"
        f"<th>converted</th><th>rate</th></tr>{rows}</table>"
    )


def _rule_table(s: Summary) -> str:
    rows = "".join(
        f"<tr><td>{escape(r.rule)}</td><td>{r.points:+g}</td><td>{r.fired:,}</td>"
        f"<td>{_pct(r.fired_rate)}</td><td>{_pct(r.not_fired_rate)}</td></tr>"
        for r in s.rules
    )
    return (
        f"<table><tr><th>rule</th><th>points</th><th>{s.subject} where it fired</th>"
        f"<th>converted when fired</th><th>converted when not</th></tr>{rows}</table>"
    )


def _section(s: Summary) -> str:
    cls = "ok" if s.healthy else "bad"
    verdict = "".join(f"<div>{escape(line)}</div>" for line in s.verdict)
    catch = ""
    if s.catch is not None:
        c = s.catch
        catch = (
            f"<p>To catch {s.catch_share:.0%} of the deals, send {s.subject} scoring "
            f"{c.threshold} or more: {c.above_leads:,} {s.subject} "
            f"({_pct(c.above_leads / s.leads)} of all) holding "
            f"{c.above_conversions:,} of {s.conversions:,} conversions.</p>"
        )
    what = " (accounts)" if s.subject == "accounts" else ""
    who = s.subject.capitalize()
    return f"""
<section>
<h2>Model {escape(s.model)} v{escape(str(s.version))}{what}</h2>
<div class="verdict {cls}">{verdict}</div>
{_tiles(s)}
<div class="charts">
<figure>{band_chart(s.bands)}<figcaption>{who} split into {len(s.bands)} bands of about
equal size by score. Healthy models show rising bars, the top band at least twice the bottom
one.</figcaption></figure>
<figure>{distribution_chart(s.distribution)}<figcaption>Where converted and not-converted
{s.subject} score. The orange bars should sit further right than the grey ones.
</figcaption></figure>
<figure>{calibration_chart(s.bands)}<figcaption>Each point is a band: its average score against
how often its {s.subject} converted. The line should climb from left to right.</figcaption></figure>
</div>
{catch}
<div class="charts">{_band_table("Bands of equal size", s.bands, s.subject)}
{_band_table("Fixed score bands", s.fixed_bands, s.subject)}</div>
{_reliability(s)}
<h2>Rules: conversion when fired vs not</h2>
{_rule_table(s)}
</section>"""


def _reliability(s: Summary) -> str:
    """The reliability curve of a calibrated model: a chart, and the same as a table."""
    if s.brier is None:
        return ""
    rows = "".join(
        f"<tr><td>{r['low']:g}-{r['high']:g}</td><td>{_pct(r['expected'])}</td>"
        f"<td>{_pct(r['observed'])}</td></tr>"
        for r in s.reliability
    )
    return (
        f'<h2>Reliability: expected vs observed conversion</h2><p class="brier">Brier score '
        f"{s.brier:.4f} (mean squared gap between each lead's expected conversion and its "
        f"outcome; 0 is perfect).</p>{reliability_chart(s.reliability)}"
        "<table><tr><th>band</th><th>expected</th>"
        f"<th>observed</th></tr>{rows}</table>"
    )


def render(summary: Summary, compare: Summary | None = None) -> str:
    """The whole report as an HTML string; ``compare`` adds a second model side by side."""
    kind = "Account" if summary.subject == "accounts" else "Lead"
    title = f"{kind} score calibration: {summary.model} v{summary.version}"
    parts = [_section(summary)]
    if compare is not None:
        title += f" vs {compare.model} v{compare.version}"
        parts.insert(
            0, f"<h2>Side by side</h2><pre>{escape(format_comparison(summary, compare))}</pre>"
        )
        parts.append(_section(compare))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title><style>{_STYLE}</style></head>
<body><main>
<h1>{escape(title)}</h1>
<p class="sub">Each {kind.lower()} is scored as it stood at its own moment (when it entered the
pipeline), then compared with whether it converted. {summary.leads:,} {summary.subject},
{summary.conversions:,} converted.</p>
{"".join(parts)}
</main></body></html>
"""
