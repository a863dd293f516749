"""Building a processor on a Redis store and reading its outcomes, for the processor's tests."""

from __future__ import annotations

from collections.abc import Iterable

import orjson
import redis.asyncio as aioredis

from scoring.model import default_model
from streams.kafka.messages import Channel
from streams.observability.metrics import Metrics
from streams.state.keys import Keys
from streams.state.redis_store import RedisLeadStore
from streams.worker.processor import BatchOutcome, ConsumedRecord, Processor


def make_processor(
    client: aioredis.Redis, unique: str, store_cls: type[RedisLeadStore] = RedisLeadStore
) -> Processor:
    metrics = Metrics()
    store = store_cls(client, Keys(f"p-{unique}"), 10, metrics)
    return Processor(store, [default_model()], metrics, max_event_bytes=65536)


def records(events: Iterable[dict[str, object]], start: int = 0) -> list[ConsumedRecord]:
    """Consumed records of partition 0 of topic "in", at offsets from ``start`` on."""
    return [
        ConsumedRecord("in", 0, offset, b"k", orjson.dumps(event), 0.0)
        for offset, event in enumerate(events, start)
    ]


def alerts(outcome: BatchOutcome) -> list[dict[str, object]]:
    return [orjson.loads(m.value) for m in outcome.messages if m.channel is Channel.HOT]
