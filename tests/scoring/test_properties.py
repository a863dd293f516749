"""Property-based tests: arrival order and repeats never change a result."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.engine import apply_event, evaluate
from scoring.events import parse_event
from scoring.model import Model, default_model
from scoring.offline import score_events
from scoring.state import LeadState
from tests.support.events import T0

MODEL = default_model()
AT = T0 + timedelta(days=200)
# The default model plus window, count-bin, recency and breadth rules, whose state keeps event
# times.
_WINDOWS = [
    {"id": "pricing_7d", "event": "page_view", "page_category": "pricing", "points": 4,
     "within_days": 7, "cap": 12},
    {"id": "busy_week", "event": "any", "points": 6, "within_days": 7, "min_count": 2,
     "max_count": 3},
    {"id": "very_busy_week", "event": "any", "points": 9, "within_days": 7, "min_count": 4},
    {"id": "two_or_three_opens", "event": "email_opened", "points": 3, "min_count": 2,
     "max_count": 3},
    {"id": "quiet_month", "event": "any", "points": -8, "days_since_last": {"min": 30}},
    {"id": "recent", "event": "any", "points": 5, "days_since_last": {"max": 3}},
    {"id": "broad", "event": "any", "points": 4, "distinct_signals": {"min": 3, "max": 5}},
    {"id": "broad_week", "event": "any", "points": 6, "within_days": 7,
     "distinct_signals": {"min": 2}},
]  # fmt: skip
_data = MODEL.model_dump(mode="json", by_alias=True, exclude_none=True)
_data["engagement"]["rules"] += _WINDOWS
WINDOWED = Model.model_validate({**_data, "name": "windowed"})
models = st.sampled_from([MODEL, WINDOWED])

_paths = st.sampled_from(
    [
        "/pricing",
        "/pricing/enterprise",
        "/vs/x",
        "/integrations/a",
        "/blog/p",
        "/careers",
        "/",
        "/demo",
    ]
)
_kinds = st.sampled_from(
    [
        "email_opened",
        "email_clicked",
        "webinar_registered",
        "webinar_attended",
        "email_unsubscribed",
        "form_submitted",
        "content_downloaded",
        "demo_video_watched",
        "meeting_booked",
        "product_usage",
    ]
)


@st.composite
def lead_events(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 25))
    events = []
    for i in range(count):
        when = T0 + timedelta(seconds=draw(st.integers(0, 180 * 86400)))
        choice = draw(st.integers(0, 9))
        if choice < 4:
            kind, props = "page_view", {"path": draw(_paths)}
        elif choice < 6:
            kind = "profile_updated"
            props = draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "job_title": st.sampled_from(["VP", "Director", "Engineer", "Student"]),
                        "company_size": st.sampled_from([5, 40, 200, 500, 5000]),
                        "industry": st.sampled_from(["SaaS", "Retail"]),
                        "email": st.sampled_from(["a@gmail.com", "b@corp.example"]),
                    },
                )
            )
        else:
            kind, props = draw(_kinds), {}
        events.append(
            {
                "event_id": f"e{i}",
                "lead_id": "L",
                "type": kind,
                "occurred_at": when.isoformat(),
                "properties": props,
            }
        )
    return events


def _state(events: list[dict[str, Any]], model: Model = MODEL) -> LeadState:
    state = LeadState.new("L")
    for raw in events:
        apply_event(state, parse_event(raw), model)
    return state


def _same(a: LeadState, b: LeadState) -> None:
    assert a.seen == b.seen and a.profile == b.profile and a.recent == b.recent
    assert a.signals.keys() == b.signals.keys()
    for key, (n, v, t) in a.signals.items():
        assert b.signals[key][0] == n and b.signals[key][2] == t
        assert b.signals[key][1] == pytest.approx(v, rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(lead_events(), st.randoms(use_true_random=False), models)
def test_any_arrival_order_gives_the_same_state_and_score(
    events: list[dict[str, Any]], rnd: Any, model: Model
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    a, b = _state(events, model), _state(shuffled, model)
    _same(a, b)
    sa, sb = evaluate(a, model, AT), evaluate(b, model, AT)
    assert sa.score == sb.score and sa.grade == sb.grade and sa.hot == sb.hot
    assert sa.fit == pytest.approx(sb.fit, abs=1e-9)
    assert sa.engagement == pytest.approx(sb.engagement, abs=1e-9)
    assert [c.points for c in sa.explanation] == [c.points for c in sb.explanation]


@settings(max_examples=150, deadline=None)
@given(lead_events(), st.randoms(use_true_random=False), models)
def test_repeats_are_ignored(events: list[dict[str, Any]], rnd: Any, model: Model) -> None:
    repeated = events + [rnd.choice(events) for _ in range(len(events))]
    rnd.shuffle(repeated)
    _same(_state(events, model), _state(repeated, model))


@settings(max_examples=60, deadline=None)
@given(lead_events(), st.randoms(use_true_random=False), models)
def test_offline_results_do_not_depend_on_file_order(
    events: list[dict[str, Any]], rnd: Any, model: Model
) -> None:
    parsed = [parse_event(e) for e in events]
    shuffled = parsed + rnd.sample(parsed, k=len(parsed) // 2)
    rnd.shuffle(shuffled)
    [a] = score_events(parsed, [model], AT)
    [b] = score_events(shuffled, [model], AT)
    assert (a.score, a.hot, a.grade, a.route) == (b.score, b.hot, b.grade, b.route)


@settings(max_examples=150, deadline=None)
@given(lead_events(), st.randoms(use_true_random=False), st.integers(0, 400), models)
def test_streaming_through_stored_bytes_equals_offline_scoring(
    events: list[dict[str, Any]], rnd: Any, days_later: int, model: Model
) -> None:
    """The worker folds events into a state it stores as bytes between batches; offline scoring
    folds them all at once. Window rules included, the two must agree exactly."""
    shuffled = list(events)
    rnd.shuffle(shuffled)
    state = LeadState.new("L")
    for raw in shuffled:  # one event per batch: the state goes through its bytes every time
        state = LeadState.from_bytes(state.to_bytes(), "L")
        apply_event(state, parse_event(raw), model)
    latest = max(parse_event(e).occurred_at for e in events)
    at = latest + timedelta(hours=days_later)  # after every event, as a worker scores
    [offline] = score_events([parse_event(e) for e in events], [model], at)
    streamed = evaluate(LeadState.from_bytes(state.to_bytes(), "L"), model, at)
    assert (streamed.score, streamed.grade, streamed.engagement) == (
        offline.score,
        offline.grade,
        pytest.approx(offline.engagement, abs=1e-9),
    )


@settings(max_examples=150, deadline=None)
@given(lead_events(), st.integers(0, 400), models)
def test_a_score_without_reasons_is_the_score_with_them(
    events: list[dict[str, Any]], days_later: int, model: Model
) -> None:
    """The worker scores most changes without an explanation; it must be the very same score."""
    state = _state(events, model)
    at = T0 + timedelta(days=days_later)
    full, bare = evaluate(state, model, at), evaluate(state, model, at, explained=False)
    assert bare.explanation == ()
    assert (bare.score, bare.fit, bare.engagement) == (full.score, full.fit, full.engagement)
    assert (bare.grade, bare.hot, bare.route) == (full.grade, full.hot, full.route)
