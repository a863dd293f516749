"""Bands of a lead's traits: what is measured, how cut points become rules, and monotone bands."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import numpy as np
import pytest

from scoring.binning import (
    COUNT_CAP,
    TraitBand,
    Variable,
    _interval,
    _rule_of,
    bin_variables,
    measure,
    variables,
)
from scoring.engine import evaluate
from scoring.history import History
from scoring.learn import learning_model
from scoring.model import parse_model
from tests.support.events import T0, event, profile

MODEL = parse_model(
    """
name: small
version: 1
fit:
  rules:
    - {id: senior, points: 20, attribute: seniority, in: [vp, director]}
engagement:
  rules:
    - {id: pricing, event: page_view, page_category: pricing, points: 10, cap: 20}
page_categories:
  - {category: pricing, patterns: ['^/pricing']}
"""
)
PROBE = learning_model(MODEL)


def _sample(lead: str, raw: list[dict[str, object]], at_days: float) -> tuple[object, float]:
    history = History()
    for e in raw:
        when = T0.fromisoformat(str(e["occurred_at"])).timestamp()
        history.add(str(e["event_id"]), lead, str(e["type"]), when, e["properties"])  # type: ignore[arg-type]
    at = T0 + timedelta(days=at_days)
    return history.state(lead, PROBE, at), at.timestamp()


def test_measure_counts_windows_quiet_days_kinds_and_profile() -> None:
    day = timedelta(days=1)
    raw = [profile(T0, "a", seniority="vp", employees=250, crm="HubSpot ")]
    raw += [event("page_view", T0 + d * day, "a", path="/pricing") for d in (1, 20, 24, 25)]
    raw += [event("email_opened", T0 + d * day, "a") for d in range(9)]  # days 0..8
    state, at = _sample("a", raw, 26)
    chosen = [
        Variable("p7", "window", signal="page_view:pricing", days=7),
        Variable("p30", "window", signal="page_view:pricing", days=30),
        Variable("opens30", "window", signal="email_opened", days=30),
        Variable("quiet", "quiet"),
        Variable("kinds", "distinct"),
        Variable("kinds7", "distinct", days=7),
        Variable("size", "number", attribute="employees"),
        Variable("crm", "category", attribute="crm", levels={"hubspot": "HubSpot"}),
        Variable("title", "category", attribute="title", levels={"cfo": "CFO"}),
    ]
    row = measure(state, at, chosen)  # type: ignore[arg-type]
    # pricing: 3 views in the last 7 days, 4 in 30; opens: 9 in 30 days, counted up to the cap
    assert row[:3] == [3, 4, COUNT_CAP]
    assert row[3] == pytest.approx(1.0)  # the latest event was a day ago
    assert row[4:6] == [2, 1]  # two kinds ever; only pricing in the last week
    assert row[6:] == [250.0, "hubspot", None]  # a missing attribute is None, not a value


def test_variables_skip_what_a_fit_rule_reads_and_identifiers() -> None:
    samples = [
        _sample(f"l{i}", [profile(T0, f"l{i}", seniority="vp", email=f"u{i}@x.io", plan=f"p{i % 2}",
                                  ident=f"id-{i}")], 1)
        for i in range(60)
    ]  # fmt: skip
    names = {v.name for v in variables(MODEL, samples, min_support=20)}  # type: ignore[arg-type]
    assert "profile:plan" in names
    assert "profile:seniority" not in names  # the fit rule `senior` reads it already
    assert "profile:ident" not in names  # 60 values: an identifier
    assert not any("email" in n for n in names)


def test_cut_points_become_rules_that_never_overlap() -> None:
    week = Variable("p7", "window", signal="page_view:pricing", days=7)
    assert _rule_of(week, 0.5, 2.5, True) == {
        "event": "page_view",
        "page_category": "pricing",
        "within_days": 7,
        "min_count": 1,
        "max_count": 2,
    }
    assert _rule_of(week, 2.5, math.inf, True)["min_count"] == 3  # type: ignore[index]
    assert _rule_of(week, 2.0, 3.0, True)["max_count"] == 2  # type: ignore[index]  # 2 <= x < 3
    quiet = Variable("q", "quiet")
    assert _rule_of(quiet, -math.inf, 2.0, False) == {
        "event": "any",
        "days_since_last": {"max": 2.0},
    }
    kinds = Variable("k", "distinct", days=7)
    assert _rule_of(kinds, 1.5, math.inf, True) == {
        "event": "any",
        "distinct_signals": {"min": 2},
        "within_days": 7,
    }
    size = Variable("s", "number", attribute="employees")
    assert _rule_of(size, 100.0, 500.0, True) == {
        "attribute": "employees",
        "range": {"min": 100, "max": 499},
    }
    band = _rule_of(size, 0.5, 1.5, False)
    assert band is not None and band["range"]["max"] < 1.5 <= band["range"]["max"] + 1e-12


def test_bands_rise_steadily_with_buying_intent() -> None:
    """More pricing views convert more; the bands' weights of evidence must follow, never dip."""
    rng = random.Random(4)
    week = Variable("p7", "window", signal="page_view:pricing", days=7)
    rows, labels = [], []
    for _ in range(4000):
        views = rng.choice([0, 0, 0, 1, 1, 2, 3, 4, 5])
        rows.append([views])
        labels.append(rng.random() < 0.05 + 0.08 * views)
    (binned,) = bin_variables([week], rows, labels)
    lows = [b.rule["min_count"] for b in binned.bands]
    assert lows == sorted(lows) and lows[0] >= 1  # the band holding 0 is the reference
    effects = [-b.woe for b in binned.bands]  # optbinning's WoE falls as conversion rises
    assert all(e > 0 for e in effects)
    assert effects == sorted(effects)
    assert np.isfinite(binned.iv) and binned.iv > 0.1


def test_a_trait_unrelated_to_conversion_gets_no_bands() -> None:
    rng = random.Random(5)
    noise = Variable("n", "number", attribute="shoe_size")
    rows = [[float(rng.randint(35, 46))] for _ in range(3000)]
    labels = [rng.random() < 0.2 for _ in rows]
    found = bin_variables([noise], rows, labels)
    assert not found or found[0].iv < 0.02


@pytest.mark.parametrize("days", [1.0, 2.0, 3.5, 5.0, 6.0])
def test_a_band_holds_exactly_what_its_rule_fires_for_at_the_cut_points(days: float) -> None:
    """The learner computes bands from measured values; the engine fires rules. At a cut point
    (2 and 5 days quiet; 2 pricing views in the week) they must still agree."""
    quiet = Variable("q", "quiet")
    week = Variable("p7", "window", signal="page_view:pricing", days=7)
    cases = [
        (quiet, -math.inf, 2.0, False),
        (quiet, 2.0, 5.0, False),
        (quiet, 5.0, math.inf, False),
        (week, 0.5, 2.0, True),
        (week, 2.0, math.inf, True),
    ]
    raw = [event("page_view", T0, "a", path="/pricing"),
           event("page_view", T0 - timedelta(hours=1), "a", path="/pricing")]  # fmt: skip
    state, at = _sample("a", raw, days)
    for i, (v, low, high, integers) in enumerate(cases):
        rule = _rule_of(v, low, high, integers)
        assert rule is not None
        band = TraitBand("engagement", rule, 0.0, *_interval(v, rule))
        text = "name: b\nversion: 1\nengagement:\n  rules:\n"
        text += f"    - {{id: r{i}, points: 1, {_flow(rule)}}}\npage_categories:\n"
        text += "  - {category: pricing, patterns: ['^/pricing']}\n"
        model = parse_model(text)
        fired = evaluate(state, model, T0 + timedelta(days=days)).score > 0  # type: ignore[arg-type]
        value = measure(state, at, [v])[0]  # type: ignore[arg-type]
        assert bool(band.holds([value])[0]) == fired, (rule, value)


def _flow(rule: dict[str, object]) -> str:
    import yaml

    return yaml.safe_dump(rule, default_flow_style=True, width=1000).strip()[1:-1]
