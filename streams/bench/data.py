"""The benchmark's input: simulated events, serialized once, routed and keyed as producers would.

Generating and encoding happen before anything is timed, so no phase pays for them; every reader
then sees the very same bytes on the very same topics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from scoring.events import EventType
from scoring.simulate import simulate
from streams.kafka.clients import kafka_producer
from streams.kafka.topics import topic_for
from streams.settings import Settings, TopicNames

SIM_DAYS = 30.0
SEED = 6


@dataclass(frozen=True, slots=True)
class BenchData:
    """``messages`` are (topic, key, value); ``lines`` the same events as JSON lines."""

    messages: list[tuple[str, bytes, bytes]]
    leads: list[str]

    @property
    def lines(self) -> bytes:
        return b"".join(value + b"\n" for _, _, value in self.messages)

    def per_topic(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for topic, _, _ in self.messages:
            counts[topic] = counts.get(topic, 0) + 1
        return counts


def generate(
    events: int,
    leads: int,
    topics: TopicNames,
    end: datetime | None = None,
    progress: Callable[[int], None] | None = None,
    seed: int = SEED,
) -> BenchData:
    """``events`` simulated events over (at most) ``leads`` leads, in time order.

    The simulator decides how many events a lead has (a dozen on average); when one world of
    ``leads`` leads is too small, further worlds with other seeds add sessions to the same leads
    (their event ids get a round suffix so they are new events, not repeats), and the total is cut
    to exactly ``events`` keeping the earliest, as a backlog would hold them.
    """
    if events < 1 or leads < 1:
        raise ValueError("events and leads must be >= 1")
    end = end or datetime.now(UTC)
    collected: list[dict[str, object]] = []
    round_ = 0
    while len(collected) < events:
        world = simulate(leads, SIM_DAYS, seed + round_, end).events
        if round_:
            for event in world:
                event["event_id"] = f"{event['event_id']}-r{round_}"
        collected.extend(world)
        round_ += 1
        if progress:
            progress(min(len(collected), events))
    collected.sort(key=lambda e: (str(e["occurred_at"]), str(e["event_id"])))
    del collected[events:]
    messages: list[tuple[str, bytes, bytes]] = []
    seen: dict[str, None] = {}
    for event in collected:
        lead_id = str(event["lead_id"])
        seen[lead_id] = None
        topic = topic_for(EventType(str(event["type"])), topics)
        messages.append((topic, lead_id.encode(), orjson.dumps(event)))
    return BenchData(messages, list(seen))


async def preload(
    settings: Settings,
    messages: list[tuple[str, bytes, bytes]],
    progress: Callable[[int], None] | None = None,
    chunk: int = 5000,
) -> None:
    """Publish the backlog and wait until Kafka acknowledged all of it.

    Sent in chunks so the progress bar moves and the producer's buffer never fills.
    """
    producer = kafka_producer(settings, acks="all", linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    try:
        for start in range(0, len(messages), chunk):
            part = messages[start : start + chunk]
            futures = [await producer.send(t, value=v, key=k) for t, k, v in part]
            await asyncio.gather(*futures)
            if progress:
                progress(start + len(part))
    finally:
        await producer.stop()
