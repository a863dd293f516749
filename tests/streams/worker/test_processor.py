"""The processor against a real Redis: what is Redis-specific (script details, the cache, history).

The delivery cases every store must pass are in test_delivery_contract.py.

The processor never talks to Kafka (the worker sends its outcome), so a crash between the Redis
write and the Kafka send is simply an outcome that is never confirmed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis

from scoring.model import default_model
from streams.observability.metrics import Metrics
from streams.state import compression
from streams.state.keys import Keys
from streams.state.redis_store import RedisLeadStore, connect
from streams.worker.cache import LeadCache
from streams.worker.processor import Processor
from tests.support.processing import alerts, make_processor, records
from tests.support.seeds import seed_hot_lead

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(redis_url: str, unique: str) -> AsyncIterator[aioredis.Redis]:
    redis = connect(redis_url)
    yield redis
    keys = [k async for k in redis.scan_iter(match=f"p-{unique}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def cached_processor(client: aioredis.Redis, unique: str) -> Processor:
    metrics = Metrics()
    store = RedisLeadStore(client, Keys(f"p-{unique}"), 10, metrics)
    return Processor(store, [default_model()], metrics, 65536, cache=LeadCache(100))


async def test_out_of_order_batches_reach_the_same_state(
    client: aioredis.Redis, unique: str
) -> None:
    seed = seed_hot_lead("order-lead", datetime.now(UTC))
    forward = make_processor(client, f"{unique}a")
    for event in seed:
        await forward.process(records([event]))
    backward = make_processor(client, f"{unique}b")
    for event in reversed(seed):
        await backward.process(records([event]))
    a = (await forward.store.load(["order-lead"]))["order-lead"].state("default")
    b = (await backward.store.load(["order-lead"]))["order-lead"].state("default")
    assert (a.seen, a.profile, a.crossings) == (b.seen, b.profile, b.crossings)
    assert a.signals.keys() == b.signals.keys()
    for key, (count, value, ref) in a.signals.items():
        assert (count, ref) == (b.signals[key][0], b.signals[key][2])
        assert value == pytest.approx(b.signals[key][1], rel=1e-12)
    for prefix in (f"p-{unique}a", f"p-{unique}b"):
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        await client.delete(*keys)


async def test_history_keeps_the_newest_changes_up_to_the_limit(
    client: aioredis.Redis, unique: str
) -> None:
    from streams.http.api import expand_history

    metrics = Metrics()
    store = RedisLeadStore(client, Keys(f"p-{unique}"), 3, metrics)
    processor = Processor(store, [default_model()], metrics, max_event_bytes=65536)
    seed = seed_hot_lead("story-lead", datetime.now(UTC))
    for event in seed:
        await processor.confirm(await processor.process(records([event])))
    history = (await store.load(["story-lead"]))["story-lead"].history
    assert len(history) == 3  # more changes happened; only the newest three are kept
    shown = [expand_history(entry, processor.models) for entry in history]
    assert [e["changes"][0][1] for e in shown] == [85, 80, 60]  # newest first
    assert shown[0]["cause"] == "email_opened"
    assert shown[0]["changes"][0] == ["default", 85, "A1", True]
    assert shown[0]["at"] >= shown[-1]["at"]
    # each change carries the time of the event that made it, not the time it was processed
    event_times = {round(datetime.fromisoformat(e["occurred_at"]).timestamp(), 3) for e in seed}
    times = [e["at"] for e in shown]
    assert set(times) <= event_times and times == sorted(set(times), reverse=True), times


async def test_worker_state_keeps_only_what_the_model_reads(
    client: aioredis.Redis, unique: str
) -> None:
    processor = make_processor(client, unique)
    profile = {
        "event_id": "p-1",
        "lead_id": "private-lead",
        "type": "profile_updated",
        "occurred_at": "2026-11-01T10:00:00Z",
        "properties": {
            "email": "dana@acme.example",
            "job_title": "VP Sales",
            "favourite_colour": "teal",
            "company_size": 600,
        },
    }
    await processor.confirm(await processor.process(records([profile])))
    raw = await client.get(f"p-{unique}:lead:{{private-lead}}")
    assert raw is not None
    body = compression.decompress(raw[raw.index(b"\n") + 1 :])  # the record as written
    assert b"VP Sales" in body and b"acme.example" in body
    assert b"dana@" not in body and b"teal" not in body  # no e-mail address, nothing unread
    stored = (await processor.store.load(["private-lead"]))["private-lead"]
    profile_kept = {k: v[0] for k, v in stored.state("default").profile.items()}
    assert profile_kept == {
        "email_domain": "acme.example",
        "job_title": "VP Sales",
        "company_size": 600,
    }


async def test_a_lead_just_written_is_not_read_back(client: aioredis.Redis, unique: str) -> None:
    seed = seed_hot_lead("busy-lead", datetime.now(UTC))
    cached, plain = cached_processor(client, unique), make_processor(client, f"{unique}x")
    for event in seed:
        await cached.confirm(await cached.process(records([event])))
        await plain.confirm(await plain.process(records([event])))
    reads = cached.metrics.lead_reads
    assert reads.labels("redis")._value.get() == 1  # the first event: a lead not seen yet
    assert reads.labels("cache")._value.get() == len(seed) - 1
    # what reached Redis is what a worker without the cache writes
    a = (await cached.store.load(["busy-lead"]))["busy-lead"]
    b = (await plain.store.load(["busy-lead"]))["busy-lead"]
    assert (a.version, a.summaries, a.outbox) == (b.version, b.summaries, b.outbox)
    sa, sb = a.state("default"), b.state("default")
    assert (sa.seen, sa.profile, sa.hot) == (sb.seen, sb.profile, sb.hot)
    assert sa.crossings == sb.crossings == 1
    keys = [k async for k in client.scan_iter(match=f"p-{unique}x:*")]
    await client.delete(*keys)


async def test_a_cached_lead_another_writer_changed_is_read_again(
    client: aioredis.Redis, unique: str
) -> None:
    seed = seed_hot_lead("shared-lead", datetime.now(UTC))
    cached, rival = cached_processor(client, unique), make_processor(client, unique)
    await cached.confirm(await cached.process(records(seed[:3])))
    await rival.confirm(await rival.process(records(seed[3:5])))  # e.g. after a rebalance
    await cached.confirm(await cached.process(records(seed[5:])))
    assert cached.metrics.state_conflicts._value.get() == 1  # its cached copy was stale
    stored = (await cached.store.load(["shared-lead"]))["shared-lead"]
    assert len(stored.state("default").seen) == len(seed)  # both writers' events are kept


async def test_a_confirmed_alert_times_its_way_from_the_event(
    client: aioredis.Redis, unique: str
) -> None:
    processor = make_processor(client, unique)
    outcome = await processor.process(records(seed_hot_lead("timed-lead", datetime.now(UTC))))
    assert alerts(outcome)
    registry = processor.metrics.registry
    assert registry.get_sample_value("leadscore_event_to_alert_seconds_count") == 0
    assert await processor.confirm(outcome)
    assert registry.get_sample_value("leadscore_event_to_alert_seconds_count") == 1


async def test_checkpoints_move_only_on_the_redis_the_batch_was_written_to(
    client: aioredis.Redis, unique: str
) -> None:
    store = RedisLeadStore(client, Keys(f"p-{unique}"), 10, Metrics())
    assert not await store.restarted()  # the first look only learns the instance
    await client.set(store.keys.outbox("a"), b"[1]")
    assert await store.finish({"a": b"[1]"}, {"in:0": 5})
    assert await store.checkpoints() == {"in:0": 5}
    assert await client.get(store.keys.outbox("a")) is None

    store.run_id = "0" * 40  # as if the batch's leads went to an instance that has since restarted
    await client.set(store.keys.outbox("b"), b"[2]")
    assert not await store.finish({"b": b"[2]"}, {"in:0": 9})
    assert await store.checkpoints() == {"in:0": 5}  # its writes may be lost: no skipping them
    assert await client.get(store.keys.outbox("b")) is None  # what Kafka has is still forgotten
    # seeing the instance now there is not trusting it: only a rewind does, just before it reads
    # the checkpoints it goes back to; until then no batch moves them past the possible loss
    assert await store.restarted()
    assert not await store.finish({}, {"in:0": 9})
    assert await store.checkpoints() == {"in:0": 5}
    await store.adopt_instances()
    assert not await store.restarted()
    assert await store.finish({}, {"in:0": 9})
    assert await store.checkpoints() == {"in:0": 9}
