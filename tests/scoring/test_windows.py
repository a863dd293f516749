"""Window, count-bin and recency rules: "viewed pricing in the last 7 days", "2-3 opens", "quiet for
two weeks". Their numbers are worked out by hand here; the property tests hold them to arrival
order, repeats, stored bytes and offline scoring."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scoring.compiled import compiled
from scoring.engine import evaluate
from scoring.errors import ModelError
from scoring.model import parse_model
from tests.support.events import T0, build, event

DAY = timedelta(days=1)
MODEL = parse_model(
    """
name: windows
version: 1
decay: {rate: 0.5, period_days: 10}
engagement:
  rules:
    - {id: pricing_7d, event: page_view, page_category: pricing, points: 5, within_days: 7, cap: 15}
    - {id: opens_2_3, event: email_opened, points: 4, min_count: 2, max_count: 3}
    - {id: busy_week, event: any, points: 10, within_days: 7, min_count: 4}
    - {id: quiet_2w, event: any, points: -6, days_since_last: {min: 14}}
    - {id: fresh, event: any, points: 7, days_since_last: {max: 2}}
    - {id: warm, event: any, points: 3, days_since_last: {min: 2, max: 14}}
    - {id: broad, event: any, points: 8, distinct_signals: {min: 3}}
    - {id: broad_pages_7d, event: page_view, points: 2, within_days: 7,
       distinct_signals: {min: 2, max: 2}}
page_categories:
  - {category: pricing, patterns: ['^/pricing']}
"""
)


def parts(at_days: float, *events: dict[str, object]) -> dict[str, int]:
    score = evaluate(build(events, MODEL), MODEL, T0 + at_days * DAY)
    assert sum(c.points for c in score.explanation) == score.score
    return {c.rule: c.points for c in score.explanation}


def test_a_window_counts_only_its_last_days_and_does_not_decay() -> None:
    views = [event("page_view", T0 + d * DAY, path="/pricing") for d in (0, 5, 6)]
    assert parts(6, *views)["pricing_7d"] == 15  # three in the window, 5 each, capped at 15
    assert parts(10, *views)["pricing_7d"] == 10  # day 0 left the window; no decay
    assert "pricing_7d" not in parts(13.5, *views)  # all three left


def test_a_count_bin_fires_only_inside_it() -> None:
    opens = [event("email_opened", T0 + d * DAY) for d in range(5)]
    assert "opens_2_3" not in parts(4, *opens[:1])
    assert parts(2, *opens[:2])["opens_2_3"] == 4  # decayed from the latest, like min_count
    assert parts(2, *opens[:3])["opens_2_3"] == 4
    assert "opens_2_3" not in parts(4, *opens[:4])  # four is past the bin


def test_any_event_counts_every_kind_in_the_window() -> None:
    mixed = [
        event("email_opened", T0),
        event("page_view", T0 + DAY, path="/blog"),
        event("meeting_booked", T0 + 2 * DAY),
        event("form_submitted", T0 + 3 * DAY),
    ]
    assert parts(3, *mixed)["busy_week"] == 10
    assert "busy_week" not in parts(7.5, *mixed)  # the first left the window


def test_recency_scores_how_long_the_lead_has_been_quiet() -> None:
    one = event("email_clicked", T0)
    assert "quiet_2w" not in parts(13, one)
    assert parts(14, one)["quiet_2w"] == -6  # no decay: recency is the point
    score = evaluate(build([one], MODEL), MODEL, T0 + 20 * DAY)
    [detail] = [c.detail for c in score.explanation if c.rule == "quiet_2w"]
    assert detail == "last event 14+ days ago: -6"


def test_the_state_keeps_only_as_many_times_as_the_windows_count() -> None:
    assert compiled(MODEL).recent_depth == 5  # busy_week counts to 4: four and one more
    views = [event("page_view", T0 + d * DAY / 10, path="/pricing") for d in range(12)]
    state = build(views, MODEL)
    assert all(len(times) <= 5 for times in state.recent.values())
    plain = parse_model("name: p\nversion: 1\n")
    assert build(views, plain).recent == {}  # no window rules: nothing extra stored


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("{id: x, event: any, points: 1, max_count: 3}", "max_count needs min_count"),
        ("{id: x, event: any, points: 1, min_count: 4, max_count: 3}", "below min_count"),
        ("{id: x, event: any, points: 1, min_count: 1}", "at least 2"),
        ("{id: x, event: any, points: 1, within_days: 7, days_since_last: {min: 1}}", "combine"),
        ("{id: x, event: any, points: 1, path_pattern: a}", "single event type"),
        ("{id: x, event: anything, points: 1}", "must be one of"),
    ],
)
def test_malformed_window_rules_are_named(rule: str, problem: str) -> None:
    with pytest.raises(ModelError, match=problem):
        parse_model(f"name: w\nversion: 1\nengagement:\n  rules:\n    - {rule}\n")


def test_recency_bands_include_min_and_exclude_max() -> None:
    """Consecutive bands meet at a cut point without both firing there."""
    one = [event("email_opened", T0)]
    assert parts(1, *one).keys() & {"fresh", "warm", "quiet_2w"} == {"fresh"}
    assert parts(2, *one).keys() & {"fresh", "warm", "quiet_2w"} == {"warm"}  # exactly 2 days
    assert parts(14, *one).keys() & {"fresh", "warm", "quiet_2w"} == {"quiet_2w"}


def test_distinct_signals_count_kinds_of_engagement_not_events() -> None:
    opens = [event("email_opened", T0 + d * DAY) for d in range(4)]
    assert "broad" not in parts(4, *opens)  # four events, one kind
    kinds = [
        event("email_opened", T0),
        event("page_view", T0 + DAY, path="/pricing"),
        event("page_view", T0 + 2 * DAY, path="/blog"),  # another page category: another kind
    ]
    assert parts(3, *kinds)["broad"] == 8  # no decay: a breadth band fires whole
    assert parts(300, *kinds)["broad"] == 8
    detail = evaluate(build(kinds, MODEL), MODEL, T0 + 3 * DAY).explanation
    assert any("3 different kinds of engagement (3+)" in c.detail for c in detail)


def test_distinct_signals_in_a_window_count_kinds_seen_in_it() -> None:
    pages = [
        event("page_view", T0, path="/pricing"),
        event("page_view", T0 + 5 * DAY, path="/blog"),
    ]
    assert parts(6, *pages)["broad_pages_7d"] == 2  # both page kinds within 7 days
    assert "broad_pages_7d" not in parts(8, *pages)  # pricing left the window
    assert compiled(MODEL).recent_depth >= 1  # the state keeps the latest time per signal


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("{id: x, event: any, points: 1, distinct_signals: {min: 2}, min_count: 2}", "combine"),
        ("{id: x, event: page_view, path_pattern: '^/a', points: 1, distinct_signals: {min: 2}}",
         "counts signals"),
    ],
)  # fmt: skip
def test_distinct_signals_refuse_what_they_cannot_mean(rule: str, problem: str) -> None:
    with pytest.raises(ModelError, match=problem):
        parse_model(f"name: bad\nversion: 1\nengagement:\n  rules:\n    - {rule}\n")
