"""The stored leads ``ops/bench-rescore`` times rescores on: scored once, copied alike, removed."""

from __future__ import annotations

import asyncio

import pytest

from streams.bench.rescore import drop, load
from streams.observability.metrics import Metrics
from streams.settings import Settings
from streams.state.keys import Keys
from streams.state.redis_store import RedisLeadStore, connect

pytestmark = pytest.mark.integration


async def _leads(redis_url: str, prefix: str) -> dict[str, bytes]:
    client = connect(redis_url)
    try:
        store = RedisLeadStore(client, Keys(prefix), 5, Metrics())
        ids = sorted({i async for i in store.lead_ids()})
        values = await client.mget([Keys(prefix).lead(i) for i in ids])
        assert await store.scored_by() == "default@1"
        return {i: bytes(v) for i, v in zip(ids, values, strict=True)}
    finally:
        await client.aclose()


def test_each_prefix_holds_the_same_scored_leads_until_dropped(redis_url: str, unique: str) -> None:
    settings = Settings(redis_url=redis_url)
    first, second = f"t-{unique}-a", f"t-{unique}-b"
    stored, events = asyncio.run(load(settings, 40, [first, second]))
    assert 0 < stored <= 40 and events > stored
    leads = asyncio.run(_leads(redis_url, first))
    assert len(leads) == stored
    assert asyncio.run(_leads(redis_url, second)) == leads  # the very same records
    assert asyncio.run(drop(settings, [first, second])) >= 2 * stored
    assert asyncio.run(_left(redis_url, f"t-{unique}-*")) == []


async def _left(redis_url: str, pattern: str) -> list[bytes]:
    client = connect(redis_url)
    try:
        return [key async for key in client.scan_iter(match=pattern)]
    finally:
        await client.aclose()
