"""Builders shared by the scoring tests: events as producers would send them, and the seeds."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from scoring.engine import Score, apply_event, evaluate
from scoring.events import Event, parse_event
from scoring.model import Model, default_model
from scoring.state import LeadState

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_ids = itertools.count()


def event(
    event_type: str,
    at: datetime = T0,
    lead: str = "lead-1",
    event_id: str | None = None,
    **props: Any,
) -> dict[str, Any]:
    """A raw event, as JSON-decoded from a producer."""
    return {
        "event_id": event_id or f"evt-{next(_ids)}",
        "lead_id": lead,
        "type": event_type,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "properties": props,
    }


def anonymous(event_type: str, visitor: str, at: datetime = T0, **props: Any) -> dict[str, Any]:
    """A raw event of an anonymous visitor: ``anonymous_id`` instead of ``lead_id``."""
    raw = event(event_type, at, **props)
    del raw["lead_id"]
    raw["anonymous_id"] = visitor
    return raw


def identified(
    lead: str, visitor: str, at: datetime = T0, event_id: str | None = None
) -> dict[str, Any]:
    """A raw ``identified`` event: from now on ``visitor`` is ``lead``."""
    return event("identified", at, lead, event_id, anonymous_id=visitor)


def profile(at: datetime = T0, lead: str = "lead-1", **props: Any) -> dict[str, Any]:
    return event("profile_updated", at, lead, **props)


def seed_director_500(lead: str = "seed-1") -> list[dict[str, Any]]:
    """Seed 1: a Director at a 500-person SaaS company who visited the pricing page twice,
    attended a webinar and opened 4 emails, all on one morning."""
    minute = timedelta(minutes=1)
    return [
        profile(
            T0,
            lead,
            job_title="Director of Operations",
            company_size=500,
            industry="SaaS",
            email="dana@acme.example",
        ),
        event("page_view", T0 + 5 * minute, lead, path="/pricing"),
        event("page_view", T0 + 25 * minute, lead, url="https://acme.example/pricing?plan=team"),
        event("webinar_attended", T0 + 40 * minute, lead, webinar_id="w-7"),
        *[event("email_opened", T0 + (50 + i) * minute, lead, campaign="spring") for i in range(4)],
    ]


def seed_director_200(lead: str = "seed-2") -> list[dict[str, Any]]:
    """Seed 2: a Director at a 200-person SaaS company with no engagement."""
    return [profile(T0, lead, job_title="Director", company_size=200, industry="SaaS")]


def build(
    raw_events: Iterable[dict[str, Any]], model: Model | None = None, lead: str | None = None
) -> LeadState:
    model = model or default_model()
    events: list[Event] = [parse_event(e) for e in raw_events]
    state = LeadState.new(lead or (events[0].lead_id if events else "lead-1"))
    for e in events:
        apply_event(state, e, model)
    return state


def score_of(
    raw_events: Iterable[dict[str, Any]], at: datetime, model: Model | None = None
) -> Score:
    model = model or default_model()
    return evaluate(build(raw_events, model), model, at)
