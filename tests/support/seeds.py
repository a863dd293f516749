"""Event sequences the streaming tests publish."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def seed_hot_lead(lead_id: str, now: datetime) -> list[dict[str, Any]]:
    """The seed document's example: a Director at a 500-person SaaS company who visited pricing
    twice, attended a webinar and opened 4 emails."""

    def at(minutes: int) -> str:
        return (now - timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    def event(n: int, kind: str, minutes: int, **props: Any) -> dict[str, Any]:
        return {
            "event_id": f"{lead_id}-{n}",
            "lead_id": lead_id,
            "type": kind,
            "occurred_at": at(minutes),
            "properties": props,
        }

    return [
        event(
            0,
            "profile_updated",
            60,
            job_title="Director of Engineering",
            company_size=500,
            industry="SaaS",
            email="dana@acme.example",
        ),
        event(1, "page_view", 30, path="/pricing"),
        event(2, "page_view", 29, path="/pricing"),
        event(3, "webinar_attended", 20, webinar_id="w-42"),
        *(event(4 + i, "email_opened", 10 - i, campaign="nurture") for i in range(4)),
    ]
