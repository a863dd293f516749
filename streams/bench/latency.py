"""Latency under load: events produced at a fixed rate, matched to the worker's outputs by id.

Each event's send time is noted (``perf_counter``, this process) just before it is handed to the
producer; a score change on ``leads.scores`` carries the ``event_id`` of the newest event that
changed the lead, and a hot alert on ``leads.hot`` the ``event_id`` of its tipping event, so the
first output naming an event ends that event's clock. Events whose lead's score did not change, or
that were folded into a batch behind a newer event of the same lead, name no output and are not
counted. Alongside, with the same producer and rate, small messages travel a topic of their own
to a bare consumer: the produce-to-consume round trip that any pipeline on this broker pays.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from scoring.events import EventType
from scoring.simulate import live_events
from streams.kafka.clients import kafka_consumer, kafka_producer
from streams.kafka.topics import topic_for
from streams.settings import Settings, TopicNames

TICK = 0.005


@dataclass
class LatencyResult:
    produced: int
    seconds: float
    scores_ms: list[float] = field(default_factory=list)
    alerts_ms: list[float] = field(default_factory=list)
    roundtrip_ms: list[float] = field(default_factory=list)
    roundtrip_sent: int = 0


def percentiles(samples: Sequence[float]) -> dict[str, float] | None:
    """p50, p95, p99 (nearest rank) and max, in the samples' unit; None without samples."""
    if not samples:
        return None
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]

    return {
        "p50": round(rank(50), 2),
        "p95": round(rank(95), 2),
        "p99": round(rank(99), 2),
        "max": round(ordered[-1], 2),
    }


async def _assign_at_end(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> None:
    """Assign every partition and resolve the end positions now, before anything is produced."""
    parts: list[TopicPartition] = []
    for topic in topics:
        found: set[int] | None = None
        for _ in range(50):
            found = consumer.partitions_for_topic(topic)
            if found:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        if not found:
            raise RuntimeError(f"topic {topic} has no partitions")
        parts += [TopicPartition(topic, p) for p in sorted(found)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    for tp in parts:
        await consumer.position(tp)


def _clock() -> Iterator[datetime]:
    while True:
        yield datetime.now(UTC)


async def measure(
    settings: Settings,
    topics: TopicNames,
    roundtrip_topic: str,
    rate: float,
    seconds: float,
    leads: int,
    caught_up: Callable[[int], Awaitable[bool]],
    drain_timeout: float = 60.0,
    progress: Callable[[float], None] | None = None,
) -> LatencyResult:
    """Produce ``rate`` events/s for ``seconds``, then wait until ``caught_up(produced)``."""
    producer = kafka_producer(  # configured like streams.kafka.publisher.Publisher
        settings, acks="all", enable_idempotence=True, linger_ms=5
    )
    outputs = kafka_consumer(settings, group_id=None)
    roundtrip = kafka_consumer(settings, group_id=None)
    await producer.start()
    await outputs.start()
    await roundtrip.start()
    sent: dict[str, float] = {}
    rt_sent: list[float] = []
    scores: dict[str, float] = {}
    alerts: dict[str, float] = {}
    rt_seen: dict[int, float] = {}

    async def read_outputs() -> None:
        while True:
            batches = await outputs.getmany(timeout_ms=100)
            now = time.perf_counter()
            for tp, records in batches.items():
                for record in records:
                    _match(tp.topic == topics.hot, record.value, now, sent, scores, alerts)

    async def read_roundtrip() -> None:
        while True:
            batches = await roundtrip.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    n = int(record.value or b"-1")
                    if 0 <= n < len(rt_sent) and n not in rt_seen:
                        rt_seen[n] = now - rt_sent[n]

    tasks: list[asyncio.Task[None]] = []
    try:
        await _assign_at_end(outputs, [topics.scores, topics.hot])
        await _assign_at_end(roundtrip, [roundtrip_topic])
        tasks = [asyncio.create_task(read_outputs()), asyncio.create_task(read_roundtrip())]
        source = live_events(seed=606, leads=leads, clock=_clock(), anonymous_share=0.0)
        started = time.perf_counter()
        produced = 0
        while (elapsed := time.perf_counter() - started) < seconds:
            due = int(rate * elapsed)
            while produced < due:
                event = next(source)
                value = orjson.dumps(event)
                topic = topic_for(EventType(event["type"]), topics)
                sent[event["event_id"]] = time.perf_counter()
                await producer.send(topic, value=value, key=event["lead_id"].encode())
                rt_sent.append(time.perf_counter())
                await producer.send(roundtrip_topic, value=str(produced).encode())
                produced += 1
            if progress:
                progress(elapsed)
            await asyncio.sleep(TICK)
        await producer.flush()
        produced_for = time.perf_counter() - started
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline:
            if len(rt_seen) >= len(rt_sent) and await caught_up(produced):
                await asyncio.sleep(1.0)  # the last batch's messages are on their way
                break
            await asyncio.sleep(0.2)
        return LatencyResult(
            produced=produced,
            seconds=produced_for,
            scores_ms=[v * 1000 for v in scores.values()],
            alerts_ms=[v * 1000 for v in alerts.values()],
            roundtrip_ms=[v * 1000 for v in rt_seen.values()],
            roundtrip_sent=len(rt_sent),
        )
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await producer.stop()
        await outputs.stop()
        await roundtrip.stop()


def _match(
    is_alert: bool,
    value: bytes | None,
    now: float,
    sent: dict[str, float],
    scores: dict[str, float],
    alerts: dict[str, float],
) -> None:
    """Record the latency of the event an output message names, the first time it is named."""
    if not value:
        return
    message: Any = orjson.loads(value)
    if is_alert:
        tipping = message.get("tipping_event") if message.get("kind") == "hot" else None
        event_id = tipping.get("event_id") if isinstance(tipping, dict) else None
        target = alerts
    else:
        event_id = message.get("event_id")
        target = scores
    if isinstance(event_id, str) and event_id in sent and event_id not in target:
        target[event_id] = now - sent[event_id]
