"""Stored leads for timing ``leadscore rescore``: a simulated world scored into Redis, twice over.

``ops/bench-rescore`` times the rescore of one code base against another on the very same leads.
A rescore changes what it rescores, so each contender needs its own copy: the world is scored once
under the first key prefix, without publishing anything (as ``leadscore rebuild`` does), and its
keys are then copied under each further prefix. Neither the simulation nor the loading is timed.

Usage: ``python -m streams.bench.rescore load LEADS PREFIX [PREFIX ...]`` then
``python -m streams.bench.rescore drop PREFIX [PREFIX ...]``; the other settings come from
``LEADSCORE_*`` as for every command.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence

import orjson
import redis.asyncio as aioredis

from scoring.events import EventType
from scoring.model import default_model
from scoring.simulate import simulate
from streams.bench.data import SEED, SIM_DAYS
from streams.bench.memory import delete_prefix
from streams.kafka.topics import topic_for
from streams.observability.metrics import Metrics
from streams.settings import Settings, TopicNames
from streams.state.keys import Keys
from streams.state.redis_store import RedisLeadStore, connect
from streams.worker.processor import ConsumedRecord, Processor

CHUNK = 20_000  # events per processed batch while loading


async def load(settings: Settings, leads: int, prefixes: Sequence[str]) -> tuple[int, int]:
    """Score a world of ``leads`` leads under the default model into the first prefix, then copy
    every key to the others; returns (leads stored, events applied)."""
    client = connect(settings.redis_url)
    try:
        metrics = Metrics()
        store = RedisLeadStore(client, Keys(prefixes[0]), settings.history_length, metrics)
        processor = Processor(
            store, [default_model()], metrics, settings.max_event_bytes, emit=False
        )
        events = simulate(leads, SIM_DAYS, SEED).events
        topics = settings.topics
        applied = 0
        for start in range(0, len(events), CHUNK):
            chunk = [
                ConsumedRecord(
                    topic_for_event(e, topics),
                    0,
                    start + n,
                    str(e["lead_id"]).encode(),
                    orjson.dumps(e),
                    time.time(),
                )
                for n, e in enumerate(events[start : start + CHUNK])
            ]
            outcome = await processor.process(chunk)
            await processor.confirm(outcome)
            applied += outcome.events
        stored = len({str(e["lead_id"]) for e in events})
        await store.mark_scored_by("default@1")
        for prefix in prefixes[1:]:
            await copy_prefix(client, prefixes[0], prefix)
        return stored, applied
    finally:
        await client.aclose()


def topic_for_event(event: dict[str, object], topics: TopicNames) -> str:
    return topic_for(EventType(str(event["type"])), topics)


async def copy_prefix(client: aioredis.Redis, source: str, target: str) -> int:
    """COPY every key under ``source:`` to the same name under ``target:``."""
    copied = 0
    batch: list[str] = []

    async def flush() -> int:
        async with client.pipeline(transaction=False) as pipe:
            for key in batch:
                pipe.copy(key, target + key[len(source) :], replace=True)
            await pipe.execute()
        done = len(batch)
        batch.clear()
        return done

    async for key in client.scan_iter(match=f"{source}:*", count=10_000):
        batch.append(key.decode() if isinstance(key, bytes) else key)
        if len(batch) >= 5000:
            copied += await flush()
    if batch:
        copied += await flush()
    return copied


async def drop(settings: Settings, prefixes: Sequence[str]) -> int:
    client = connect(settings.redis_url)
    try:
        return sum([await delete_prefix(client, p) for p in prefixes])
    finally:
        await client.aclose()


def main(argv: Sequence[str]) -> None:
    settings = Settings()
    if len(argv) >= 3 and argv[0] == "load":
        started = time.perf_counter()
        stored, applied = asyncio.run(load(settings, int(argv[1]), argv[2:]))
        took = time.perf_counter() - started
        print(
            f"loaded {stored} leads ({applied} events) under {', '.join(argv[2:])} in {took:.0f}s"
        )
    elif len(argv) >= 2 and argv[0] == "drop":
        print(f"removed {asyncio.run(drop(settings, argv[1:]))} keys")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
