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
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from streams.state.store import LeadStore

POLL_SECONDS = 0.2


async def wait_settled(
    consumer: AIOKafkaConsumer,
    internal: Sequence[str],
    store: LeadStore,
    limit: float,
    poll: float = POLL_SECONDS,
) -> float:
    """Until the ``internal`` topics are applied to their ends; when that was first seen.

    ``consumer`` is started and subscribed to them (no group): it only asks for their ends.
    """
    deadline = time.monotonic() + limit
    first: float | None = None
    while True:
        parts = [
            TopicPartition(t, p) for t in internal for p in consumer.partitions_for_topic(t) or ()
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
        await asyncio.sleep(poll)
