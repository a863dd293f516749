"""Redis memory per lead, two ways: what the keys themselves take, and what Redis grew by.

``MEMORY USAGE`` over a sample of leads (their record and any pending outbox) is exact for those
keys and immune to other users of the same Redis; the ``used_memory`` delta across the catch-up run
also counts allocator overhead and the shared cooling set, but moves with anything else written to
the server meanwhile, so it is reported beside the first, not instead of it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import redis.asyncio as aioredis

from streams.state.keys import Keys


async def used_memory(client: aioredis.Redis) -> int:
    info = await client.info("memory")
    return int(info["used_memory"])


async def bytes_per_lead(
    client: aioredis.Redis, keys: Keys, lead_ids: Sequence[str], sample: int = 500
) -> float:
    """Mean ``MEMORY USAGE`` (all samples) of every key a lead has: its record and its outbox."""
    chosen = random.Random(6).sample(list(lead_ids), min(sample, len(lead_ids)))
    if not chosen:
        return 0.0
    async with client.pipeline(transaction=False) as pipe:
        for lead_id in chosen:
            pipe.memory_usage(keys.lead(lead_id), samples=0)
            pipe.memory_usage(keys.outbox(lead_id), samples=0)
        sizes = await pipe.execute()
    return sum(int(s or 0) for s in sizes) / len(chosen)


async def delete_prefix(client: aioredis.Redis, prefix: str) -> int:
    """UNLINK every key under ``prefix:``; returns how many went."""
    removed = 0
    batch: list[bytes] = []
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            removed += int(await client.unlink(*batch))
            batch.clear()
    if batch:
        removed += int(await client.unlink(*batch))
    return removed
