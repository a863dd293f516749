"""Calibration figures checked against values worked out by hand on ten leads."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from scoring.calibrate import (
    Row,
    catch_threshold,
    distribution,
    fixed_bands,
    judge_rules,
    lift,
    quantile_bands,
    roc_auc,
    rule_rates,
    split,
    summarize,
    verdict,
)
from scoring.history import History
from scoring.model import default_model
from tests.support.events import T0, event, profile

# lead: score, converted, rules fired
DATA = {
    "A": (10, False, {"blog"}),
    "B": (20, False, {"blog"}),
    "C": (20, True, {"careers"}),
    "D": (30, False, {"blog"}),
    "E": (40, False, set()),
    "F": (50, True, {"pricing"}),
    "G": (60, False, set()),
    "H": (70, True, {"pricing"}),
    "I": (80, True, {"pricing"}),
    "J": (90, True, {"pricing", "careers"}),
}
ROWS = [Row(k, s, c, frozenset(f)) for k, (s, c, f) in DATA.items()]
POINTS = {"pricing": 2.0, "blog": 5.0, "careers": -10.0}


def test_quantile_bands_keep_ties_together() -> None:
    # 10 leads, 5 bands: a score goes to band floor(5 * below / 10), below = leads scoring less.
    # 10: below 0 -> 0; 20 (x2): below 1 -> 0; 30: below 3 -> 1; 40: 4 -> 2; 50: 5 -> 2;
    # 60: 6 -> 3; 70: 7 -> 3; 80: 8 -> 4; 90: 9 -> 4.
    bands = quantile_bands(ROWS, 5)
    assert [(b.low, b.high, b.leads, b.conversions) for b in bands] == [
        (10, 20, 3, 1),  # A B C
        (30, 30, 1, 0),  # D
        (40, 50, 2, 1),  # E F
        (60, 70, 2, 1),  # G H
        (80, 90, 2, 2),  # I J
    ]
    assert bands[0].mean_score == pytest.approx(50 / 3)  # (10 + 20 + 20) / 3
    assert bands[2].rate == 0.5


def test_quantile_bands_drop_empty_bands() -> None:
    # 4 leads at 0 and 1 at 50 into 5 bands: 0 -> band 0; 50: below 4 -> band 4; 1-3 are empty
    rows = [Row(str(i), 0, False) for i in range(4)] + [Row("x", 50, True)]
    assert [(b.low, b.leads) for b in quantile_bands(rows, 5)] == [(0, 4), (50, 1)]


def test_fixed_bands_cover_0_to_100() -> None:
    bands = fixed_bands(ROWS, 5)
    assert [(b.low, b.high) for b in bands] == [(0, 19), (20, 39), (40, 59), (60, 79), (80, 100)]
    # 0-19: A; 20-39: B C D; 40-59: E F; 60-79: G H; 80-100: I J
    assert [(b.leads, b.conversions) for b in bands] == [(1, 0), (3, 1), (2, 1), (2, 1), (2, 2)]


def test_lift_is_top_band_rate_over_bottom_band_rate() -> None:
    # top band 2/2 = 1.0, bottom band 1/3: lift 3.0
    assert lift(quantile_bands(ROWS, 5)) == pytest.approx(3.0)
    # bottom band never converts: infinite; nobody converts: undefined
    rows = [Row("a", 0, False), Row("b", 90, True)]
    assert lift(quantile_bands(rows, 2)) == math.inf
    assert lift(quantile_bands([Row("a", 0, False), Row("b", 9, False)], 2)) is None


def test_roc_auc_mann_whitney_with_ties() -> None:
    # ranks: 10->1, 20,20->2.5 each, 30->4, 40->5, 50->6, 60->7, 70->8, 80->9, 90->10.
    # converted: C(2.5) F(6) H(8) I(9) J(10): R = 35.5; P = N = 5
    # AUC = (35.5 - 5*6/2) / (5*5) = 20.5 / 25 = 0.82
    assert roc_auc(ROWS) == pytest.approx(0.82)
    assert roc_auc([Row("a", 5, True), Row("b", 5, False)]) == 0.5  # a tie counts half
    assert roc_auc([Row("a", 5, True)]) is None


def test_roc_auc_matches_pairwise_definition() -> None:
    pos = [r.score for r in ROWS if r.converted]
    neg = [r.score for r in ROWS if not r.converted]
    pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    assert roc_auc(ROWS) == pytest.approx(pairs / (len(pos) * len(neg)))


def test_split_at_the_hot_threshold() -> None:
    s = split(ROWS, 80)  # I J above (both converted); 8 below with C F H converted
    assert (s.above_leads, s.above_conversions, s.below_leads, s.below_conversions) == (2, 2, 8, 3)
    assert s.to_dict()["below_rate"] == 0.375


def test_catch_threshold_finds_the_highest_cut() -> None:
    # 80% of 5 conversions = 4: from the top J, I, H, (G no), F -> cut at 50 holds F G H I J
    c = catch_threshold(ROWS, 0.8)
    assert c is not None and (c.threshold, c.above_leads, c.above_conversions) == (50, 5, 4)
    # 50% -> ceil(2.5) = 3: J I H -> cut at 70
    c = catch_threshold(ROWS, 0.5)
    assert c is not None and (c.threshold, c.above_leads) == (70, 3)
    assert catch_threshold([Row("a", 1, False)], 0.8) is None


def test_rule_rates_fired_vs_not() -> None:
    rates = {r.rule: r for r in rule_rates(ROWS, POINTS)}
    # pricing fired on F H I J (4 of 4 converted); not on 6 leads with 1 conversion (C)
    p = rates["pricing"]
    assert (p.fired, p.fired_conversions, p.not_fired, p.not_fired_conversions) == (4, 4, 6, 1)
    assert p.not_fired_rate == pytest.approx(1 / 6)
    assert list(rates) == ["pricing", "blog", "careers"]  # model order


def test_judge_rules_names_mis_weighted_rules() -> None:
    hints = judge_rules(rule_rates(ROWS, POINTS), min_support=1)
    text = "\n".join(hints)
    assert "pricing looks under-weighted" in text  # +2, 100% vs 16.7%
    assert "blog looks over-weighted" in text  # +5, 0% vs 71.4%
    assert "careers looks over-penalised" in text  # -10, 100% vs 37.5%
    assert "leads where it fired convert at 100.0% vs 16.7% without it" in text
    assert judge_rules(rule_rates(ROWS, POINTS)) == []  # default support of 30 leads not met


def test_verdict_in_plain_words() -> None:
    bands = quantile_bands(ROWS, 5)
    healthy = verdict(3.0, bands, ["ignored hint"])
    assert healthy == [
        "Healthy: high scores convert at 3.0x the rate of low scores "
        "(top band 100.0% vs bottom band 33.3%)."
    ]
    weak = verdict(1.5, bands, ["blog looks over-weighted"])
    assert weak[0].startswith("Needs rework: high scores convert at only 1.5x")
    assert weak[1] == "blog looks over-weighted"
    assert "Not enough data" in verdict(None, bands, [])[0]


def test_distribution_by_ten_points() -> None:
    buckets = distribution(ROWS)
    assert len(buckets) == 10 and buckets[-1]["high"] == 100
    assert buckets[2] == {"low": 20, "high": 29, "converted": 1, "not_converted": 1}  # B C
    assert buckets[9] == {"low": 90, "high": 100, "converted": 1, "not_converted": 0}  # J


def test_summary_json_shape() -> None:
    data = summarize(ROWS, "m", 1, 80, POINTS).to_dict()
    assert data["lift"] == 3.0 and data["auc"] == 0.82
    assert data["conversion_rate"] == 0.5
    assert [b["leads"] for b in data["bands"]] == [3, 1, 2, 2, 2]
    assert data["hot"]["above_leads"] == 2
    assert data["catch"]["threshold"] == 50 and data["catch"]["share"] == 0.8
    assert data["healthy"] is True
    inf = summarize([Row("a", 0, False), Row("b", 90, True)], "m", 1, 80, {}, bands=2)
    assert inf.to_dict()["lift"] is None and inf.healthy


def test_history_scores_a_lead_as_of_its_moment() -> None:
    """Events after the moment a lead is scored at are ignored."""
    history = History()
    raw = [
        profile(T0, job_title="Director", company_size=500, industry="SaaS"),
        event("page_view", T0 + timedelta(hours=1), path="/pricing"),
        event("page_view", T0 + timedelta(hours=3), path="/compare/rivalscore"),
    ]
    for e in raw:
        history.add(e["event_id"], e["lead_id"], e["type"], _t(e), e["properties"])
    model = default_model()
    # fit 20 + 10 + 10 = 40; pricing +10 (no decay at the event's own time)
    at = T0 + timedelta(hours=1)
    assert history.score("lead-1", model, at).score == 50
    assert history.last_event("lead-1") == T0 + timedelta(hours=3)
    later = history.score("lead-1", model, T0 + timedelta(hours=3))
    assert later.score == 65  # + competitor comparison 15


def _t(e: dict[str, object]) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(e["occurred_at"])).timestamp()
