"""The model the roll-out tests change: ten points per pricing view and no decay, so a lead with n
views scores 10 n, and only the thresholds (and version) differ between the old and the new."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import orjson

from scoring.events import EventType
from streams.kafka.topics import TopicNames, topic_for
from tests.support.worker import publish_raw, read_topic


def rollout_model(version: int, hot: int, rearm: int) -> str:
    """The model file's text."""
    return f"""
name: rollout
version: {version}
decay: {{rate: 0.0, period_days: 30}}
thresholds: {{hot: {hot}, rearm: {rearm}}}
engagement:
  max: 100
  rules:
    - {{id: pricing, event: page_view, page_category: pricing, points: 10}}
page_categories:
  - {{category: pricing, patterns: ['^/pricing']}}
"""


def pricing_views(views: dict[str, int], start: datetime) -> list[dict[str, object]]:
    """``views[lead]`` pricing page views of each lead, a minute apart from ``start``: under the
    roll-out model a lead with n views scores 10 n."""
    return [
        {
            "event_id": f"{lead}-{i}",
            "lead_id": lead,
            "type": "page_view",
            "occurred_at": (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
            "properties": {"path": "/pricing"},
        }
        for lead, n in views.items()
        for i in range(n)
    ]


def transitions(bootstrap: str, topic: str) -> Counter[tuple[str, str, int]]:
    """Every alert on ``topic`` (leads.hot or leads.shadow), as (lead, kind, crossing), counted."""
    found = asyncio.run(read_topic(bootstrap, topic))
    alerts = [orjson.loads(m.value) for m in found]
    return Counter((a["lead_id"], a["kind"], a["crossing"]) for a in alerts)


def publish_views(bootstrap: str, prefix: str, views: dict[str, int], start: datetime) -> int:
    """Publish ``pricing_views`` to the page-view topic of the deployment whose topic prefix is
    ``prefix``; returns how many."""
    events = pricing_views(views, start)
    topic = topic_for(EventType.PAGE_VIEW, TopicNames(prefix))
    asyncio.run(
        publish_raw(
            bootstrap, [(topic, str(e["lead_id"]).encode(), orjson.dumps(e)) for e in events]
        )
    )
    return len(events)
