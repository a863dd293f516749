"""Identity merge in the worker: visitors and leads on different partitions, any order, repeats.

The processor runs against real stores; Kafka is played by a queue from which every batch takes a
random handful of pending records (the identity topic's links and touches included), sometimes
taking one again (a redelivery). Whatever the schedule, once nothing is pending every lead scores
what offline scoring of the same events gives, and redelivery sends no new alert id.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.events import parse_event
from scoring.model import default_model
from scoring.offline import score_events
from streams.kafka.messages import Channel
from streams.observability.metrics import Metrics
from streams.state.keys import Keys
from streams.state.memory_store import MemoryLeadStore
from streams.state.redis_store import RedisLeadStore, connect
from streams.state.store import LeadStore
from streams.worker.processor import ConsumedRecord, Processor, score_now
from tests.support.accounts import IDENTITY
from tests.support.accounts import run as route
from tests.support.events import T0, anonymous, identified, seed_director_500
from tests.support.identity import AT, stories

_prefixes = itertools.count()


def _processor(leads: LeadStore, visitors: LeadStore) -> Processor:
    return Processor(
        leads,
        [default_model()],
        Metrics(),
        max_event_bytes=65536,
        clock=lambda: AT.timestamp(),
        visitors=visitors,
        identity_topic=IDENTITY,
    )


async def run(
    processor: Processor, events: list[dict[str, Any]], rnd: random.Random
) -> list[dict[str, Any]]:
    """Feed the events, then route identity messages back, in random batches; the hot alerts."""
    feed = await route(processor, events, rnd)
    assert feed.dead == [], feed.dead
    return feed.lead_alerts


async def final_scores(processor: Processor, leads: list[str]) -> dict[str, int]:
    assert processor.visitors is not None
    stored = await processor.store.load(leads)
    found: dict[str, int] = {}
    for lead, record in stored.items():
        visitors = await processor.visitors.load(record.links)
        (score,) = score_now(record, processor.models, AT, visitors)
        found[lead] = score.score
    return found


def offline(events: list[dict[str, Any]]) -> dict[str, int]:
    scores = score_events([parse_event(e) for e in events], [default_model()], AT)
    return {s.lead_id: s.score for s in scores}


@settings(max_examples=60, deadline=None)
@given(stories(), st.integers(0, 2**32))
def test_any_schedule_reaches_the_offline_scores_in_memory(
    events: list[dict[str, Any]], schedule: int
) -> None:
    rnd = random.Random(schedule)
    processor = _processor(MemoryLeadStore(), MemoryLeadStore(history_length=0))
    expected = offline(events)
    asyncio.run(run(processor, events, rnd))
    assert asyncio.run(final_scores(processor, list(expected))) == expected


@pytest.mark.integration
@settings(  # each example takes its own key prefix from the counter
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(stories(), st.integers(0, 2**32))
def test_any_schedule_reaches_the_offline_scores_in_redis(
    redis_url: str, unique: str, events: list[dict[str, Any]], schedule: int
) -> None:
    rnd = random.Random(schedule)
    prefix = f"id-{unique}-{next(_prefixes)}"

    async def go() -> tuple[dict[str, int], dict[str, int]]:
        client = connect(redis_url)
        try:
            metrics = Metrics()
            leads = RedisLeadStore(client, Keys(prefix), 10, metrics)
            visitors = RedisLeadStore(client, Keys(f"{prefix}:visitor"), 0, metrics)
            processor = _processor(leads, visitors)
            expected = offline(events)
            await run(processor, events, rnd)
            return await final_scores(processor, list(expected)), expected
        finally:
            keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.unlink(*keys)
            await client.aclose()

    found, expected = asyncio.run(go())
    assert found == expected


def _acceptance_story() -> list[dict[str, Any]]:
    """The seed Director without her own pricing views, and a visitor who viewed pricing three
    times: hot only once the visitor is identified as her."""
    hour = timedelta(hours=1)
    views = [
        anonymous("page_view", "anon-7", T0 - timedelta(days=1) + n * hour, path="/pricing")
        for n in range(3)
    ]
    own = [e for e in seed_director_500("lead-7") if e["type"] != "page_view"]
    return [*views, *own, identified("lead-7", "anon-7", T0 + 20 * hour, "id-7")]


@pytest.mark.parametrize("seed", range(8))
def test_a_lead_tipped_hot_by_its_identification_names_it_and_repeats_add_no_alert(
    seed: int,
) -> None:
    events = _acceptance_story()
    processor = _processor(MemoryLeadStore(), MemoryLeadStore(history_length=0))
    expected = offline(events)["lead-7"]
    assert expected >= 80 > offline([e for e in events if e["type"] != "identified"])["lead-7"]
    rnd = random.Random(seed)
    alerts = asyncio.run(run(processor, events, rnd))
    again = asyncio.run(run(processor, events, rnd))  # everything published once more
    assert asyncio.run(final_scores(processor, ["lead-7"])) == {"lead-7": expected}
    assert len(alerts) == 1 and again == []
    assert alerts[0]["tipping_event"]["event_id"] == "id-7"
    notes = [c["detail"] for c in alerts[0]["explanation"] if c["kind"] == "identity"]
    assert notes == ["anonymous visitor anon-7 identified on 2026-03-03"]


def test_garbage_on_the_identity_topic_is_dead_lettered() -> None:
    processor = _processor(MemoryLeadStore(), MemoryLeadStore(history_length=0))
    bad = [ConsumedRecord(IDENTITY, 0, n, None, v, 0.0) for n, v in enumerate([b"{", b"{}"])]
    outcome = asyncio.run(processor.process(bad))
    dead = [dict(m.headers) for m in outcome.messages if m.channel is Channel.DLQ]
    assert len(dead) == 2 and outcome.rejected == 2
    assert all(b"not an identity message" in b"".join(d.values()) for d in dead)


@pytest.mark.integration
def test_unidentified_visitors_expire_and_identified_ones_stay(redis_url: str, unique: str) -> None:
    prefix = f"ttl-{unique}"
    events = [
        anonymous("page_view", "stranger", path="/pricing"),
        anonymous("page_view", "known", path="/pricing"),
        identified("lead-1", "known"),
    ]

    async def go() -> dict[str, int]:
        client = connect(redis_url)
        try:
            metrics = Metrics()
            visitors = RedisLeadStore(client, Keys(f"{prefix}:visitor"), 0, metrics)
            processor = _processor(RedisLeadStore(client, Keys(prefix), 10, metrics), visitors)
            processor.expire_visitors = visitors.expire
            processor.anonymous_ttl = 3600.0
            await run(processor, events, random.Random(1))
            return {v: await client.ttl(visitors.keys.lead(v)) for v in ("stranger", "known")}
        finally:
            keys = [k async for k in client.scan_iter(match=f"{prefix}*")]
            if keys:
                await client.unlink(*keys)
            await client.aclose()

    ttl = asyncio.run(go())
    assert 3500 < ttl["stranger"] <= 3600
    assert ttl["known"] == -1  # no expiry: its events count toward lead-1
