"""``leadscore produce`` and ``POST /events`` key an anonymous visitor's events by anonymous_id.

Both publish through :class:`Publisher`; a real broker shows the keys the consumers partition by.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from scoring.events import EventType, parse_event
from streams.kafka.publisher import Publisher
from streams.kafka.topics import ensure_topics, topic_for
from streams.settings import Settings
from tests.support.events import anonymous, event, identified
from tests.support.worker import read_topic, remove_deployment

pytestmark = pytest.mark.integration


def test_anonymous_events_are_keyed_by_anonymous_id(
    kafka_bootstrap: str, redis_url: str, unique: str
) -> None:
    prefix = f"t-{unique}."
    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix)
    raws = [
        anonymous("page_view", "anon-1", path="/pricing"),
        event("page_view", lead="lead-1", path="/pricing"),
        identified("lead-1", "anon-1"),
    ]
    events = [(parse_event(raw), orjson.dumps(raw)) for raw in raws]

    async def run() -> dict[bytes, bytes]:
        await ensure_topics(settings)
        async with Publisher(settings) as publisher:
            assert await publisher.publish(events) == 3
        topics = {topic_for(e.type, settings.topics) for e, _ in events}
        found: dict[bytes, bytes] = {}
        for topic in sorted(topics):
            for record in await read_topic(kafka_bootstrap, topic):
                found[record.value] = record.key
        return found

    try:
        keys = asyncio.run(run())
    finally:
        asyncio.run(remove_deployment(kafka_bootstrap, redis_url, prefix))
    assert keys == {
        orjson.dumps(raws[0]): b"anon-1",
        orjson.dumps(raws[1]): b"lead-1",
        orjson.dumps(raws[2]): b"lead-1",
    }
    assert topic_for(EventType.IDENTIFIED, settings.topics) == settings.topics.activity
