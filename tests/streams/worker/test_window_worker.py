"""A model with window, count-bin and recency rules in a real worker: the state it keeps in Redis
scores every lead exactly as offline scoring of the same events does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import yaml

from scoring.events import EventType, parse_event
from scoring.model import default_model, parse_model
from scoring.offline import score_events
from scoring.simulate import simulate
from streams.kafka.topics import topic_for
from streams.settings import TopicNames
from tests.support.worker import WorkerProcess, publish_raw, scores_in_redis

pytestmark = pytest.mark.integration

WINDOWS = [
    {"id": "pricing_week", "event": "page_view", "page_category": "pricing", "points": 6,
     "within_days": 7, "cap": 18},
    {"id": "busy_week", "event": "any", "points": 8, "within_days": 7, "min_count": 3},
    {"id": "opens_2_3", "event": "email_opened", "points": 3, "min_count": 2, "max_count": 3},
    {"id": "quiet_10d", "event": "any", "points": -12, "days_since_last": {"min": 10}},
]  # fmt: skip


def test_the_worker_keeps_what_window_rules_count(
    start_worker: Callable[..., WorkerProcess],
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    data = default_model().model_dump(mode="json", by_alias=True, exclude_none=True)
    data["engagement"]["rules"] += WINDOWS
    data.update(name="windowed", version=2)
    path = tmp_path / "windowed.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    model = parse_model(path.read_text())

    now = datetime.now(UTC)
    events = simulate(300, 20, seed=5, end=now - timedelta(minutes=1)).events
    worker = start_worker(LEADSCORE_MODEL=str(path))
    topics = TopicNames(worker.env["LEADSCORE_TOPIC_PREFIX"])
    messages = [
        (topic_for(EventType(e["type"]), topics), e["lead_id"].encode(), orjson.dumps(e))
        for e in events
    ]
    asyncio.run(publish_raw(kafka_bootstrap, messages))
    worker.wait_handled(len(messages))

    at = datetime.now(UTC)
    expected = {
        s.lead_id: s.score for s in score_events((parse_event(e) for e in events), [model], at)
    }
    stored = scores_in_redis(redis_url, worker.env["LEADSCORE_REDIS_PREFIX"], expected, model, at)
    assert stored == expected
    fired = {
        c.rule
        for s in score_events((parse_event(e) for e in events), [model], at)
        for c in s.explanation
    }
    assert {"pricing_week", "busy_week", "quiet_10d"} <= fired  # the rules were exercised
