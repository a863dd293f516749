"""The single-Redis store's checkpoints advance only on the instance that took the writes.

The Redis watch may notice a restart at any moment: between a batch's writes and its finish, or
while the worker waits for events. Either way the next finish must hold the checkpoints back, or
they would cover writes the old instance lost; only the rewind trusts the new instance.
"""

from __future__ import annotations

import pytest

from streams.observability.metrics import Metrics
from streams.state.keys import Keys
from streams.state.record import encode
from streams.state.redis_store import RedisLeadStore, connect
from streams.state.store import LeadWrite

pytestmark = pytest.mark.integration


async def test_a_restart_seen_by_the_watch_holds_checkpoints_until_the_rewind(
    redis_url: str, unique: str
) -> None:
    client = connect(redis_url)
    try:
        store = RedisLeadStore(client, Keys(f"r-{unique}"), 5, Metrics())
        await store.restarted()
        assert await store.finish({}, {"in:0": 10})
        real = store.run_id
        store.run_id = "0" * 40  # the writes go to an instance that is gone by the finish
        loaded = (await store.load(["a"]))["a"]
        assert await store.commit([LeadWrite("a", 0, encode(loaded, 1), b"[1]")]) == []
        assert await store.restarted()  # the watch sees the instance now there
        assert not await store.finish({"a": b"[1]"}, {"in:0": 20})
        assert await store.checkpoints() == {"in:0": 10}
        assert not await store.finish({}, {"in:0": 30})  # a batch begun after the watch looked
        assert await store.checkpoints() == {"in:0": 10}
        await store.adopt_instances()  # the rewind, before it reads the checkpoints
        assert store.run_id == real
        assert await store.finish({}, {"in:0": 30})
        assert await store.checkpoints() == {"in:0": 30}
        await client.delete(*[k async for k in client.scan_iter(match=f"r-{unique}:*")])
    finally:
        await client.aclose()
