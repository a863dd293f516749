"""Does the score predict revenue? Figures over (score, converted, fired rules) rows.

A score is only worth routing on if high scores convert more often than low ones. The usual test
from sales operations: split the leads into bands by score and compare conversion rates; the top
band should convert at two to three times the rate of the bottom one. This module computes those
figures (plus ROC AUC, rates around the hot threshold, and per-rule conversion rates that hint at
what to reweight) from plain rows, so the figures can be checked by hand on small data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

HEALTHY_LIFT = 2.0
DEFAULT_BANDS = 5
DEFAULT_CATCH_SHARE = 0.8
MIN_SUPPORT = 30  # leads on each side before a rule is judged


@dataclass(frozen=True, slots=True)
class Row:
    """One lead: its score when it entered the pipeline, whether it converted, the rules fired."""

    lead_id: str
    score: int
    converted: bool
    fired: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Band:
    """Leads whose score falls in ``[low, high]``, and how many of them converted."""

    low: int
    high: int
    leads: int
    conversions: int
    mean_score: float

    @property
    def rate(self) -> float:
        return self.conversions / self.leads if self.leads else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "rate": round(self.rate, 6),
            "mean_score": round(self.mean_score, 3),
        }


@dataclass(frozen=True, slots=True)
class Split:
    """Leads at or above a score, and below it."""

    threshold: int
    above_leads: int
    above_conversions: int
    below_leads: int
    below_conversions: int

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "above_rate": round(_rate(self.above_conversions, self.above_leads), 6),
            "below_rate": round(_rate(self.below_conversions, self.below_leads), 6),
        }


@dataclass(frozen=True, slots=True)
class RuleRate:
    """How leads where a rule fired converted, against leads where it did not."""

    rule: str
    points: float
    fired: int
    fired_conversions: int
    not_fired: int
    not_fired_conversions: int

    @property
    def fired_rate(self) -> float:
        return _rate(self.fired_conversions, self.fired)

    @property
    def not_fired_rate(self) -> float:
        return _rate(self.not_fired_conversions, self.not_fired)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "fired_rate": round(self.fired_rate, 6),
            "not_fired_rate": round(self.not_fired_rate, 6),
        }


@dataclass(frozen=True, slots=True)
class Summary:
    """Every calibration figure for one model over one set of leads."""

    model: str
    version: str | int
    leads: int
    conversions: int
    bands: list[Band]
    fixed_bands: list[Band]
    lift: float | None
    auc: float | None
    hot: Split
    catch_share: float
    catch: Split | None
    rules: list[RuleRate]
    distribution: list[dict[str, int]]
    healthy: bool
    verdict: list[str] = field(default_factory=list)
    # With a calibrated model: how far its expected conversions are from what happened (the
    # Brier score: mean squared error, 0 is perfect) and, per band, expected against observed.
    brier: float | None = None
    reliability: list[dict[str, float]] = field(default_factory=list)
    # What was scored: "leads", or "accounts" (account outcomes; the counts named ``leads``
    # then count accounts)
    subject: str = "leads"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``leadscore calibrate --json`` (infinite lift is null)."""
        lift = None if self.lift is None or math.isinf(self.lift) else round(self.lift, 4)
        return {
            "model": self.model,
            "version": self.version,
            "subject": self.subject,
            "leads": self.leads,
            "conversions": self.conversions,
            "conversion_rate": round(_rate(self.conversions, self.leads), 6),
            "lift": lift,
            "auc": None if self.auc is None else round(self.auc, 6),
            "bands": [b.to_dict() for b in self.bands],
            "fixed_bands": [b.to_dict() for b in self.fixed_bands],
            "hot": self.hot.to_dict(),
            "catch": None
            if self.catch is None
            else {"share": self.catch_share, **self.catch.to_dict()},
            "rules": [r.to_dict() for r in self.rules],
            "distribution": self.distribution,
            "healthy": self.healthy,
            "verdict": self.verdict,
            "brier": None if self.brier is None else round(self.brier, 6),
            "reliability": self.reliability,
        }


def _rate(conversions: int, leads: int) -> float:
    return conversions / leads if leads else 0.0


def _band(rows: Sequence[Row], low: int, high: int) -> Band:
    conversions = sum(r.converted for r in rows)
    mean = sum(r.score for r in rows) / len(rows) if rows else 0.0
    return Band(low, high, len(rows), conversions, mean)


def quantile_bands(rows: Sequence[Row], n: int = DEFAULT_BANDS) -> list[Band]:
    """Up to ``n`` bands of about equal size, lowest scores first; equal scores share a band.

    A score goes to band ``floor(n * below / total)``, where ``below`` counts the leads scoring
    strictly less: ties are never split, so a band may come out larger or empty (empty bands are
    left out). ``low``/``high`` are the lowest and highest score seen in the band.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    ordered = sorted(rows, key=lambda r: r.score)
    total = len(ordered)
    groups: dict[int, list[Row]] = {}
    below = 0
    i = 0
    while i < total:
        j = i
        while j < total and ordered[j].score == ordered[i].score:
            j += 1
        groups.setdefault(min(n - 1, n * below // total), []).extend(ordered[i:j])
        below = j
        i = j
    return [_band(g, g[0].score, g[-1].score) for _, g in sorted(groups.items())]


def fixed_bands(rows: Sequence[Row], n: int = DEFAULT_BANDS) -> list[Band]:
    """``n`` bands of equal width over 0..100 (five bands: 0-19, 20-39, ..., 80-100), all kept."""
    if n < 1:
        raise ValueError("n must be >= 1")
    edges = [math.ceil(100 * i / n) for i in range(n)] + [101]
    out = []
    for low, nxt in pairwise(edges):
        out.append(_band([r for r in rows if low <= r.score < nxt], low, nxt - 1))
    return out


def lift(bands: Sequence[Band]) -> float | None:
    """Conversion rate of the top band over the bottom band (inf when the bottom never converts).

    None when there are fewer than two bands or nobody converted in either.
    """
    if len(bands) < 2:
        return None
    top, bottom = bands[-1].rate, bands[0].rate
    if bottom == 0:
        return math.inf if top > 0 else None
    return top / bottom


def ranked_rows(scores: Sequence[float], labels: Sequence[bool]) -> list[Row]:
    """Rows for any scores (a classifier's probabilities too), as dense integer ranks: they then
    go through the same tie rules (bands, AUC) as leadscore's 0-100 scores."""
    rank = {s: i for i, s in enumerate(sorted(set(scores)))}
    pairs = enumerate(zip(scores, labels, strict=True))
    return [Row(str(i), rank[s], bool(y)) for i, (s, y) in pairs]


def roc_auc(rows: Sequence[Row]) -> float | None:
    """Probability that a random converted lead outscores a random other one (ties count half).

    The Mann-Whitney form: rank all scores (ties get their average rank), sum the ranks of the
    converted leads R, then AUC = (R - P(P+1)/2) / (P N). None without both kinds of lead.
    """
    positives = sum(r.converted for r in rows)
    negatives = len(rows) - positives
    if not positives or not negatives:
        return None
    ordered = sorted(rows, key=lambda r: r.score)
    rank_sum = 0.0
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j].score == ordered[i].score:
            j += 1
        mid_rank = (i + 1 + j) / 2  # ranks i+1 .. j share their mean
        rank_sum += mid_rank * sum(r.converted for r in ordered[i:j])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def split(rows: Sequence[Row], threshold: int) -> Split:
    """Leads scoring at least ``threshold`` against the rest."""
    above = [r for r in rows if r.score >= threshold]
    below = [r for r in rows if r.score < threshold]
    return Split(
        threshold,
        len(above),
        sum(r.converted for r in above),
        len(below),
        sum(r.converted for r in below),
    )


def catch_threshold(rows: Sequence[Row], share: float) -> Split | None:
    """The highest score threshold whose leads include at least ``share`` of all conversions.

    Answers "where do I cut to still catch 80% of the deals, and how many leads does that send
    to sales?". None when nobody converted.
    """
    total = sum(r.converted for r in rows)
    if total == 0:
        return None
    needed = math.ceil(share * total - 1e-9)
    caught = 0
    for score in sorted({r.score for r in rows}, reverse=True):
        caught += sum(1 for r in rows if r.converted and r.score == score)
        if caught >= needed:
            return split(rows, score)
    return split(rows, 0)  # pragma: no cover - the loop always reaches every conversion


def rule_rates(rows: Sequence[Row], points: Mapping[str, float]) -> list[RuleRate]:
    """Per rule of the model (in model order): conversion rate where it fired and where not."""
    out = []
    for rule, pts in points.items():
        fired = [r for r in rows if rule in r.fired]
        fired_conv = sum(r.converted for r in fired)
        total_conv = sum(r.converted for r in rows)
        out.append(
            RuleRate(
                rule,
                pts,
                len(fired),
                fired_conv,
                len(rows) - len(fired),
                total_conv - fired_conv,
            )
        )
    return out


def distribution(rows: Sequence[Row], width: int = 10) -> list[dict[str, int]]:
    """Converted and not-converted leads per score bucket of ``width`` (the last one holds 100)."""
    buckets = [
        {"low": low, "high": min(low + width - 1, 100), "converted": 0, "not_converted": 0}
        for low in range(0, 100, width)
    ]
    buckets[-1]["high"] = 100
    for r in rows:
        b = buckets[min(r.score // width, len(buckets) - 1)]
        b["converted" if r.converted else "not_converted"] += 1
    return buckets


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def judge_rules(rules: Sequence[RuleRate], min_support: int = MIN_SUPPORT) -> list[str]:
    """Plain-words hints about rules whose points disagree with how their leads converted.

    A rule with positive points is suspect when leads where it fired convert no better than the
    rest (over-weighted); a penalty is suspect when its leads convert as well as the rest
    (over-penalised); a small reward whose leads convert at twice the rate of the rest is
    probably under-weighted. Rules with fewer than ``min_support`` leads on a side are skipped.
    """
    hints = []
    for r in rules:
        if r.fired < min_support or r.not_fired < min_support:
            continue
        a, b = r.fired_rate, r.not_fired_rate
        seen = f"leads where it fired convert at {_pct(a)} vs {_pct(b)} without it"
        if r.points > 0 and a <= b:
            hints.append(f"{r.rule} looks over-weighted: it gives {r.points:+g} but {seen}.")
        elif r.points < 0 and a >= b:
            hints.append(f"{r.rule} looks over-penalised: it gives {r.points:+g} but {seen}.")
        elif 0 <= r.points <= 5 and b > 0 and a >= 2 * b:
            hints.append(f"{r.rule} looks under-weighted: it gives {r.points:+g} but {seen}.")
    return hints


def verdict(lift_value: float | None, bands: Sequence[Band], hints: Sequence[str]) -> list[str]:
    """The headline in plain words, followed by the rule hints when the lift is too low."""
    if lift_value is None:
        return ["Not enough data to judge: need leads in at least two bands and some conversions."]
    top, bottom = bands[-1], bands[0]
    rates = f"top band {_pct(top.rate)} vs bottom band {_pct(bottom.rate)}"
    if lift_value >= HEALTHY_LIFT:
        shown = "infinitely many times" if math.isinf(lift_value) else f"{lift_value:.1f}x"
        return [f"Healthy: high scores convert at {shown} the rate of low scores ({rates})."]
    lines = [
        f"Needs rework: high scores convert at only {lift_value:.1f}x the rate of low scores "
        f"({rates}); aim for at least {HEALTHY_LIFT:g}x."
    ]
    lines += list(hints) or ["No single rule stands out; consider `leadscore calibrate --fit`."]
    return lines


def summarize(
    rows: Sequence[Row],
    model: str,
    version: str | int,
    hot_threshold: int,
    points: Mapping[str, float],
    bands: int = DEFAULT_BANDS,
    catch_share: float = DEFAULT_CATCH_SHARE,
    expected: Callable[[int], float] | None = None,
) -> Summary:
    """All the figures for one model; ``points`` maps each rule id to its points, in model order.

    ``expected`` (a calibrated model's score -> expected conversion) adds the Brier score and the
    reliability of each quantile band.
    """
    q = quantile_bands(rows, bands) if rows else []
    lift_value = lift(q)
    rates = rule_rates(rows, points)
    hints = judge_rules(rates)
    return Summary(
        model=model,
        version=version,
        leads=len(rows),
        conversions=sum(r.converted for r in rows),
        bands=q,
        fixed_bands=fixed_bands(rows, bands),
        lift=lift_value,
        auc=roc_auc(rows),
        hot=split(rows, hot_threshold),
        catch_share=catch_share,
        catch=catch_threshold(rows, catch_share),
        rules=rates,
        distribution=distribution(rows),
        healthy=lift_value is not None and lift_value >= HEALTHY_LIFT,
        verdict=verdict(lift_value, q, hints),
        brier=None if expected is None or not rows else brier_score(rows, expected),
        reliability=[] if expected is None else reliability(rows, q, expected),
    )


def brier_score(rows: Sequence[Row], expected: Callable[[int], float]) -> float:
    """Mean squared gap between each lead's expected conversion and what happened (0 or 1)."""
    return math.fsum((expected(r.score) - r.converted) ** 2 for r in rows) / len(rows)


def reliability(
    rows: Sequence[Row], bands: Sequence[Band], expected: Callable[[int], float]
) -> list[dict[str, float]]:
    """Per band: the mean expected conversion of its leads against the rate they converted at.
    A well-calibrated model has the two equal in every band."""
    out = []
    for band in bands:
        members = [r for r in rows if band.low <= r.score <= band.high]
        mean = math.fsum(expected(r.score) for r in members) / len(members)
        out.append(
            {"low": band.low, "high": band.high, "expected": round(mean, 4),
             "observed": round(band.rate, 4)}
        )  # fmt: skip
    return out


def _fmt_lift(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "inf" if math.isinf(value) else f"{value:.2f}x"


def _fmt_auc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_text(s: Summary) -> str:
    """A plain-text report for the terminal."""
    who = s.subject
    lines = [
        f"model {s.model} v{s.version}: {s.leads} {who}, {s.conversions} converted "
        f"({_pct(_rate(s.conversions, s.leads))})",
        "",
        f"{'band (quantile)':<18}{who:>8}{'converted':>11}{'rate':>9}",
    ]
    for b in s.bands:
        lines.append(f"{f'{b.low}-{b.high}':<18}{b.leads:>8}{b.conversions:>11}{_pct(b.rate):>9}")
    lines += ["", f"{'band (fixed)':<18}{who:>8}{'converted':>11}{'rate':>9}"]
    for b in s.fixed_bands:
        lines.append(f"{f'{b.low}-{b.high}':<18}{b.leads:>8}{b.conversions:>11}{_pct(b.rate):>9}")
    h = s.hot
    lines += [
        "",
        f"lift (top band / bottom band): {_fmt_lift(s.lift)}",
        f"ROC AUC: {_fmt_auc(s.auc)}",
        f"at or above the hot threshold {h.threshold}: {h.above_leads} {who}, "
        f"{_pct(_rate(h.above_conversions, h.above_leads))} converted; below: {h.below_leads} "
        f"{who}, {_pct(_rate(h.below_conversions, h.below_leads))} converted",
    ]
    if s.catch is not None:
        c = s.catch
        lines.append(
            f"to catch {s.catch_share:.0%} of conversions, cut at {c.threshold}: "
            f"{c.above_leads} {who} ({_pct(_rate(c.above_leads, s.leads))} of all) holding "
            f"{c.above_conversions} of {s.conversions} conversions"
        )
    if s.brier is not None:
        lines += ["", f"Brier score: {s.brier:.4f}"]
        lines.append(f"{'band':<18}{'expected':>10}{'observed':>10}")
        for r in s.reliability:
            span = f"{r['low']:g}-{r['high']:g}"
            lines.append(f"{span:<18}{_pct(r['expected']):>10}{_pct(r['observed']):>10}")
    lines += ["", *s.verdict]
    return "\n".join(lines)


def format_comparison(a: Summary, b: Summary) -> str:
    """Two models side by side on the same leads: the backtest before deploying a change."""

    def row(name: str, x: str, y: str) -> str:
        return f"{name:<34}{x:>16}{y:>16}"

    def hot_rate(s: Summary) -> str:
        return _pct(_rate(s.hot.above_conversions, s.hot.above_leads))

    lines = [
        row("", f"{a.model} v{a.version}"[:15], f"{b.model} v{b.version}"[:15]),
        row("leads", str(a.leads), str(b.leads)),
        row("lift (top / bottom band)", _fmt_lift(a.lift), _fmt_lift(b.lift)),
        row("ROC AUC", _fmt_auc(a.auc), _fmt_auc(b.auc)),
        row(
            "top band conversion rate",
            _pct(a.bands[-1].rate) if a.bands else "n/a",
            _pct(b.bands[-1].rate) if b.bands else "n/a",
        ),
        row("hot leads (>= threshold)", str(a.hot.above_leads), str(b.hot.above_leads)),
        row("hot leads conversion rate", hot_rate(a), hot_rate(b)),
        row("healthy (lift >= 2)", "yes" if a.healthy else "no", "yes" if b.healthy else "no"),
    ]
    return "\n".join(lines)
