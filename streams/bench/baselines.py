"""The two ceilings the worker is compared with: a bare aiokafka consumer and a bare Faust agent.

Both read the input topics the worker reads, from the beginning, under their own identity (no
group for aiokafka, a private group for Faust), and do nothing but decode each value with orjson.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from streams.bench.proc import Child, child_env
from streams.bench.timing import Progress
from streams.kafka.clients import kafka_consumer, kafka_environment
from streams.settings import Settings


async def raw_consume(
    settings: Settings,
    topics: Sequence[str],
    total: int,
    limit: float,
    progress: Callable[[int], None] | None = None,
) -> Progress:
    """Read and decode ``total`` records with a group-less consumer assigned every partition.

    No group means no join or rebalance, and the consumer runs in the benchmark's own process:
    this is as fast as Python reads this broker, the figure the others are measured against.
    """
    consumer = kafka_consumer(settings, group_id=None, enable_auto_commit=False)
    started = time.time()
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            for p in sorted(
                consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            )
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        count, first_at, first_count = 0, 0.0, 0
        deadline = time.monotonic() + limit
        while count < total:
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw consumer read {count} of {total} records in {limit}s")
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    orjson.loads(record.value)
                count += len(records)
            if count and not first_at:
                first_at, first_count = time.time(), count
            if progress:
                progress(min(count, total))
        return Progress(total, started, first_at, first_count, time.time())
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    """Partitions of a topic the consumer has no metadata for yet."""
    for _ in range(50):
        await consumer._client.force_metadata_update()
        found = consumer.partitions_for_topic(topic)
        if found:
            return set(found)
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions")


async def faust_bare(
    settings: Settings,
    topics: Sequence[str],
    total: int,
    app_id: str,
    workdir: Path,
    batch_size: int,
    batch_within: float,
    limit: float,
    children: list[Child],
    progress: Callable[[int], None] | None = None,
) -> Progress:
    """Run :mod:`streams.bench.faust_bare` in a subprocess and wait for its timings.

    A subprocess because Faust owns its event loop and signal handling, as it does in the worker;
    the child is appended to ``children`` so the caller stops it even when this is cancelled.
    """
    import sys

    result = workdir / "faust-bare.json"
    env = child_env(
        **kafka_environment(settings),  # the child builds its Faust app from these settings
        BENCH_FAUST_TOPICS=",".join(topics),
        BENCH_FAUST_EVENTS=str(total),
        BENCH_FAUST_RESULT=str(result),
        BENCH_FAUST_APP_ID=app_id,
        BENCH_FAUST_BATCH_SIZE=str(batch_size),
        BENCH_FAUST_BATCH_WITHIN=str(batch_within),
    )
    child = Child("faust-bare", [sys.executable, "-m", "streams.bench.faust_bare"], env, workdir)
    children.append(child)
    child.start()
    try:
        deadline = time.monotonic() + limit
        while not result.exists():
            child.check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"bare Faust app did not finish in {limit}s:\n{child.tail()}")
            await asyncio.sleep(0.2)
        data = orjson.loads(result.read_bytes())
        if progress:
            progress(total)
        return Progress(
            total,
            float(data["started_at"]),
            float(data["first_at"]),
            int(data["first_count"]),
            float(data["last_at"]),
        )
    finally:
        child.stop()
