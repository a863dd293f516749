"""The processor's delivery guarantees, run against every lead store: in memory and in Redis.

Each case is written once against the :class:`~streams.state.store.LeadStore` protocol, and the
``backend`` fixture runs it on :class:`~streams.state.memory_store.MemoryLeadStore` (no services)
and on :class:`~streams.state.redis_store.RedisLeadStore` (marked integration). A store that passes
here keeps what the worker's at-least-once, exactly-one-alert promise rests on:

- a crash between the store write and the Kafka send: the alert is sent again, with the same id;
- repeats: a redelivered batch changes nothing, and a confirmed outbox is never sent again;
- a rival writer between our read and our write: compare-and-set keeps both writers' events;
- a rewind: after a restart that lost writes, checkpoints stay put and the replay restores them.

The processor never talks to Kafka (the worker sends its outcome), so a crash between the write and
the send is simply an outcome that is never confirmed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Protocol

import pytest

from scoring.model import default_model
from streams.observability.metrics import Metrics
from streams.state import record
from streams.state.keys import Keys
from streams.state.memory_store import MemoryLeadStore, MemoryServer
from streams.state.record import StoredLead
from streams.state.redis_store import RedisLeadStore, connect
from streams.state.store import LeadStore, LeadWrite
from streams.worker.cache import LeadCache
from streams.worker.processor import Processor
from tests.support.processing import alerts, records
from tests.support.seeds import seed_hot_lead


class Backend(Protocol):
    """One storage "server" that stores (the workers' clients) are opened on."""

    def store(self) -> LeadStore: ...

    async def crash(self, lost: Iterable[str]) -> None:
        """Restart the server; the writes of the ``lost`` leads are gone after it."""


class MemoryBackend:
    def __init__(self) -> None:
        self.server = MemoryServer()

    def store(self) -> LeadStore:
        return MemoryLeadStore(self.server, history_length=10)

    async def crash(self, lost: Iterable[str]) -> None:
        self.server.restart()
        for lead_id in lost:
            self.server.records.pop(lead_id, None)
            self.server.outboxes.pop(lead_id, None)


class RedisBackend:
    def __init__(self, url: str, prefix: str) -> None:
        self.client = connect(url)
        self.keys = Keys(prefix)
        self.stores: list[RedisLeadStore] = []

    def store(self) -> LeadStore:
        store = RedisLeadStore(self.client, self.keys, 10, Metrics())
        self.stores.append(store)
        return store

    async def crash(self, lost: Iterable[str]) -> None:
        # A real restart cannot be ordered from a test: the lost keys go, and every store that
        # knew the instance is told it wrote to another one, which is what a restart looks like.
        for lead_id in lost:
            await self.client.delete(self.keys.lead(lead_id), self.keys.outbox(lead_id))
        for store in self.stores:
            if store.run_id is not None:
                store.run_id = "0" * 40

    async def close(self) -> None:
        keys = [k async for k in self.client.scan_iter(match=f"{self.keys.prefix}:*")]
        if keys:
            await self.client.delete(*keys)
        await self.client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
async def backend(request: pytest.FixtureRequest, unique: str) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield MemoryBackend()
        return
    redis = RedisBackend(request.getfixturevalue("redis_url"), f"p-{unique}")
    yield redis
    await redis.close()


def processor(store: LeadStore, cache: int = 0) -> Processor:
    return Processor(store, [default_model()], Metrics(), 65536, cache=LeadCache(cache))


async def test_alert_survives_a_crash_between_write_and_send(backend: Backend) -> None:
    batch = records(seed_hot_lead("crash-lead", datetime.now(UTC)))
    first = await processor(backend.store()).process(batch)
    [alert] = alerts(first)
    # The worker dies here: the state is stored, the alert was never sent, nothing confirmed.

    restarted = processor(backend.store())
    redelivered = await restarted.process(batch)
    assert restarted.metrics.dedupe_hits._value.get() == len(batch)  # nothing applied twice
    assert alerts(redelivered) == [alert]  # the same alert, with the same id

    await restarted.confirm(redelivered)
    once_more = await restarted.process(batch)
    assert once_more.messages == []  # delivered and confirmed: nothing left to send


async def test_a_confirmed_outbox_is_not_sent_again_from_the_cache(backend: Backend) -> None:
    batch = records(seed_hot_lead("sent-lead", datetime.now(UTC)))
    cached = processor(backend.store(), cache=100)
    first = await cached.process(batch)
    assert alerts(first)
    again = await cached.process(batch)  # not confirmed yet: the pending outbox is sent again
    assert [m.value for m in again.messages] == [m.value for m in first.messages]
    await cached.confirm(again)
    assert (await cached.process(batch)).messages == []


async def test_a_rival_writer_between_read_and_write_loses_nothing(backend: Backend) -> None:
    """Two workers briefly own the same partition during a rebalance and interleave on one lead."""
    seed = seed_hot_lead("race-lead", datetime.now(UTC))
    rival = processor(backend.store())
    ours = processor(backend.store())
    raced = False
    load = ours.store.load

    async def raced_load(lead_ids: Iterable[str]) -> dict[str, StoredLead]:
        nonlocal raced
        loaded = await load(lead_ids)
        if not raced:  # the rival commits after we read and before we write
            raced = True
            await rival.process(records(seed[4:]))
        return loaded

    ours.store.load = raced_load  # type: ignore[method-assign]
    outcome = await ours.process(records(seed[:4]))
    assert raced
    assert ours.metrics.state_conflicts._value.get() == 1

    stored = (await backend.store().load(["race-lead"]))["race-lead"]
    state = stored.state("default")
    assert len(state.seen) == len(seed)  # every event of both writers is in the state
    assert state.crossings == 1
    assert len(alerts(outcome)) == 1


async def test_a_rewind_after_a_restart_replays_the_lost_writes(backend: Backend) -> None:
    now = datetime.now(UTC)
    kept, lost = seed_hot_lead("kept-lead", now), seed_hot_lead("lost-lead", now)
    worker = processor(backend.store())
    await worker.store.restarted()  # the worker's first look learns the instance
    first = await worker.process(records(kept))
    assert await worker.confirm(first)
    checkpoint = await worker.store.checkpoints()
    assert checkpoint == {"in:0": len(kept)}

    second = await worker.process(records(lost, start=len(kept)))
    [alert] = alerts(second)
    await backend.crash(["lost-lead"])  # the store restarted and forgot the second batch
    assert not await worker.confirm(second)  # Kafka has the alert, the checkpoint must not move
    assert await worker.store.checkpoints() == checkpoint

    assert await worker.store.restarted()  # still: only the rewind trusts the new instance
    await worker.store.adopt_instances()  # the rewind, before it reads the checkpoints
    replayed = await worker.process(records(lost, start=len(kept)))  # rewound to the checkpoint
    [again] = alerts(replayed)  # the lead is rebuilt; its alert keeps its id and its content
    clock = ("emitted_at", "scored_at")  # when the replay ran, not what it decided
    assert {k: v for k, v in again.items() if k not in clock} == {
        k: v for k, v in alert.items() if k not in clock
    }
    assert await worker.confirm(replayed)
    assert await worker.store.checkpoints() == {"in:0": len(kept) + len(lost)}
    stored = await worker.store.load(["kept-lead", "lost-lead"])
    assert {lead: len(s.state("default").seen) for lead, s in stored.items()} == {
        "kept-lead": len(kept),
        "lost-lead": len(lost),
    }


async def test_compare_and_set_checkpoints_and_cooling(backend: Backend) -> None:
    """The store-level promises beneath the cases above, each in one line."""
    store = backend.store()
    body = record.encode(StoredLead("a", 0), 1)
    assert await store.commit([LeadWrite("a", 0, body, b"[1]")]) == []
    assert await store.commit([LeadWrite("a", 0, body)]) == ["a"]  # a stale version loses
    assert await store.finish({"a": b"[2]"}, {}) and (await store.load(["a"]))["a"].outbox == [1]
    assert await store.finish({"a": b"[1]"}, {"in:0": 7})  # exactly the outbox sent goes
    assert (await store.load(["a"]))["a"].outbox == []
    assert await store.finish({}, {"in:0": 3}) and await store.checkpoints() == {"in:0": 7}
    assert [lead async for lead in store.lead_ids()] == ["a"]

    await store.schedule_cooling({"late": 30.0, "early": 10.0, "b": 20.0, "a": 20.0})
    await store.schedule_cooling({"late": None})
    assert await store.due_for_cooling(25.0, 10) == ["early", "a", "b"]
    assert await store.due_for_cooling(25.0, 2) == ["early", "a"]
    assert await store.cooling_times(["a", "late", "early"]) == {"a": 20.0, "early": 10.0}


def test_a_memory_restart_forgets_only_unacknowledged_writes() -> None:
    server = MemoryServer()
    server.records["kept"] = b"1\n"
    server.persist()
    server.records["lost"] = b"1\n"
    before = server.instance
    server.restart(lose_unacknowledged=True)
    assert server.instance != before and set(server.records) == {"kept"}
