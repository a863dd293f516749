"""When the workers have also applied what they sent themselves.

Input events make the worker publish messages it reads back later (identity links and touches,
account summaries), so every input event handled is not yet the end of the work: a catch-up
timed to the last input event would leave the accounts' share out, and the latency phase after it
would start behind. The work is done when every internal topic's checkpoint in Redis reached that
topic's end, seen twice in a row (the last of them may still send one more message).
"""

from __future__ import annotations

import asyncio
import time

from aiokafka.structs import TopicPartition

from streams.kafka.clients import kafka_consumer
from streams.settings import Settings
from streams.state.store import LeadStore

POLL_SECONDS = 0.2


async def wait_settled(settings: Settings, store: LeadStore, limit: float) -> float:
    """Until the internal topics are applied to their ends; when that was first seen."""
    internal = settings.topics.internal
    consumer = kafka_consumer(settings, *internal, enable_auto_commit=False)
    await consumer.start()
    try:
        deadline = time.monotonic() + limit
        first: float | None = None
        while True:
            parts = [
                TopicPartition(t, p)
                for t in internal
                for p in consumer.partitions_for_topic(t) or ()
            ]
            ends = await consumer.end_offsets(parts) if parts else {}
            held = await store.checkpoints()
            now = time.time()
            if all(held.get(f"{tp.topic}:{tp.partition}", 0) >= n for tp, n in ends.items()):
                if first is not None:
                    return first
                first = now
            else:
                first = None
            if time.monotonic() > deadline:
                raise TimeoutError(f"internal topics not applied in {limit}s: {ends} {held}")
            await asyncio.sleep(POLL_SECONDS)
    finally:
        await consumer.stop()
