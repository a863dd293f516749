from __future__ import annotations

from datetime import timedelta

from scoring.engine import evaluate
from scoring.model import default_model
from scoring.state import LeadState, event_digest
from tests.support.events import T0, build, event, profile


def typical_lead() -> list[dict[str, object]]:
    return [
        profile(T0, "lead-000042", job_title="Director", company_size=500, industry="SaaS"),
        event("page_view", T0 + timedelta(minutes=3), "lead-000042", path="/pricing"),
        event("page_view", T0 + timedelta(hours=5), "lead-000042", path="/pricing"),
        event("page_view", T0 + timedelta(days=2), "lead-000042", path="/blog/why"),
        event("webinar_attended", T0 + timedelta(days=1), "lead-000042"),
        *[event("email_opened", T0 + timedelta(days=i), "lead-000042") for i in range(4)],
        event("email_clicked", T0 + timedelta(days=3), "lead-000042"),
    ]


def test_round_trip_keeps_everything() -> None:
    state = build(typical_lead())
    state.hot, state.crossings = True, 3
    again = LeadState.from_bytes(state.to_bytes(), state.lead_id)
    assert again == state
    model = default_model()
    at = T0 + timedelta(days=9)
    assert evaluate(again, model, at) == evaluate(state, model, at)


def test_new_state_round_trips() -> None:
    assert LeadState.from_bytes(LeadState.new("x").to_bytes(), "x") == LeadState.new("x")


def test_state_is_small_and_rule_independent() -> None:
    state = build(typical_lead())
    assert len(state.to_bytes()) < 400
    # signals are per event type and page category, not per rule
    assert set(state.signals) == {
        "page_view:pricing",
        "page_view:blog",
        "webinar_attended",
        "email_opened",
        "email_clicked",
    }
    assert state.signals["email_opened"][0] == 4
    assert len(state.seen) == 10 and event_digest("a") != event_digest("b")


def test_profile_ties_on_time_are_broken_deterministically() -> None:
    a = profile(T0, job_title="Engineer", event_id="p-a")
    b = profile(T0, job_title="VP", event_id="p-b")
    assert build([a, b]).profile == build([b, a]).profile
