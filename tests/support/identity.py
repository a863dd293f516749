"""Stories for the identity-merge tests: anonymous and known events, identifications, repeats."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from scoring.model import parse_model
from tests.support.events import T0, anonymous, event, identified

AT = T0 + timedelta(days=2)  # every story's events are before it

# A model with window rules, so that combined states must merge their recent event times too.
WINDOWS = parse_model(
    """
name: windows
version: 1
decay: {rate: 0.5, period_days: 10}
engagement:
  rules:
    - {id: pricing_7d, event: page_view, page_category: pricing, points: 5, within_days: 7, cap: 15}
    - {id: opens_2_3, event: email_opened, points: 4, min_count: 2, max_count: 3}
    - {id: busy_week, event: any, points: 10, within_days: 7, min_count: 4}
    - {id: fresh, event: any, points: 7, days_since_last: {max: 2}}
page_categories:
  - {category: pricing, patterns: ['^/pricing']}
"""
)

LEADS = ["L1", "L2", "L3"]
VISITORS = ["A1", "A2", "A3"]
_kinds = st.sampled_from(["pricing", "demo_video_watched", "email_opened"])


@st.composite
def stories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Anonymous and known events, identifications (some moving a visitor), with repeats."""
    events: list[dict[str, Any]] = []
    for n in range(draw(st.integers(1, 12))):
        at = T0 + timedelta(hours=draw(st.integers(-48, 40)))
        kind = draw(_kinds)
        props = {"path": "/pricing"} if kind == "pricing" else {}
        name = "page_view" if kind == "pricing" else kind
        if draw(st.booleans()):
            raw = anonymous(name, draw(st.sampled_from(VISITORS)), at, **props)
        else:
            raw = event(name, at, draw(st.sampled_from(LEADS)), **props)
        raw["event_id"] = f"e{n}"
        events.append(raw)
    for n in range(draw(st.integers(0, 4))):
        at = T0 + timedelta(hours=draw(st.integers(-48, 40)))
        lead, visitor = draw(st.sampled_from(LEADS)), draw(st.sampled_from(VISITORS))
        events.append(identified(lead, visitor, at, event_id=f"i{n}"))
    events += draw(st.lists(st.sampled_from(events), max_size=4))  # redelivered copies
    return events
