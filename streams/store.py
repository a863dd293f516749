"""Lead state in Redis.

Each lead is one string (see :mod:`streams.record`) written by a compare-and-set script, plus, only
while Kafka has not acknowledged them, an outbox key with the messages its last change produced.
Writing the state and its outbox in one script is what lets an alert survive a crash between the
Redis write and the Kafka send.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from streams import record
from streams.keys import Keys
from streams.metrics import Metrics
from streams.record import StoredLead

_LUA = Path(__file__).with_name("lua")

__all__ = ["LeadStore", "LeadWrite", "StoredLead", "connect"]


def connect(url: str) -> aioredis.Redis:
    """A client that rides out short Redis outages by retrying with backoff."""
    retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=20)
    return aioredis.Redis.from_url(
        url,
        retry=retry,
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=15,
    )


@dataclass(frozen=True, slots=True)
class LeadWrite:
    """One compare-and-set write of a lead: the record and the outbox to keep (b"" for none)."""

    lead_id: str
    version: int
    record: bytes
    outbox: bytes = b""


class LeadStore:
    """Reads and writes leads; every call is one network round trip however many leads it covers.

    Each call is also one Redis command (a multi-key read or script) for the whole batch: per-lead
    commands cost the client more than the writes cost Redis. A batch's keys span many hash slots,
    so leadscore needs a single Redis (with replicas if wanted), not Redis Cluster.
    """

    def __init__(
        self, client: aioredis.Redis, keys: Keys, history_length: int, metrics: Metrics
    ) -> None:
        self.client = client
        self.keys = keys
        self.history_length = max(history_length, 0)
        self.metrics = metrics
        # The Redis instance (its run id) the checkpoints may advance on; see ``finish``.
        self.run_id: str | None = None
        self._commit = client.register_script(_LUA.joinpath("commit.lua").read_bytes())
        self._finish = client.register_script(_LUA.joinpath("finish.lua").read_bytes())

    async def load(self, lead_ids: Iterable[str]) -> dict[str, StoredLead]:
        ids = list(lead_ids)
        if not ids:
            return {}
        started = time.perf_counter()
        keys = self.keys
        rows: list[Any] = await self.client.mget(
            [k for lead_id in ids for k in (keys.lead(lead_id), keys.outbox(lead_id))]
        )
        self.metrics.redis_seconds.labels("load").observe(time.perf_counter() - started)
        return {
            lead_id: record.decode(lead_id, rows[2 * i], rows[2 * i + 1])
            for i, lead_id in enumerate(ids)
        }

    async def commit(self, writes: Sequence[LeadWrite]) -> list[str]:
        """Apply the writes; return the ids of leads that changed under us (write not applied)."""
        if not writes:
            return []
        started = time.perf_counter()
        keys: list[str] = []
        args: list[bytes | int] = []
        for w in writes:
            keys += [self.keys.lead(w.lead_id), self.keys.outbox(w.lead_id)]
            args += [w.version, w.record, w.outbox]
        conflicts = await self._commit(keys=keys, args=args)
        self.metrics.redis_seconds.labels("commit").observe(time.perf_counter() - started)
        return [writes[int(i) - 1].lead_id for i in conflicts]

    async def finish(self, sent: Mapping[str, bytes], offsets: Mapping[str, int]) -> bool:
        """After Kafka acknowledged a batch's messages: clear the outboxes, advance checkpoints.

        Both happen after every lead write of the batch, and Redis's append-only file keeps
        writes in order; so a checkpoint that survives a Redis crash never covers a lost state.
        Returns False when Redis turns out to have restarted since this store last looked: the
        checkpoints then stay where they are, and the caller must rewind to them.
        """
        if not sent and not offsets:
            return True
        started = time.perf_counter()
        args: list[bytes | str | int] = [self.run_id or "", len(offsets)]
        for field, offset in offsets.items():
            args += [field, offset]
        args += sent.values()
        keys = [self.keys.offsets, *(self.keys.outbox(lead_id) for lead_id in sent)]
        run_id = _text(await self._finish(keys=keys, args=args))
        self.metrics.redis_seconds.labels("finish").observe(time.perf_counter() - started)
        return not offsets or not self._saw_restart(run_id)

    async def restarted(self) -> bool:
        """Whether Redis is another instance (it restarted) since this store last looked."""
        info = await self.client.info("server")
        return self._saw_restart(str(info["run_id"]))

    def _saw_restart(self, run_id: str) -> bool:
        known, self.run_id = self.run_id, run_id
        return known is not None and known != run_id

    async def checkpoints(self) -> dict[str, int]:
        """Every partition's checkpoint, as ``{"topic:partition": next offset}``."""
        rows = await self.client.hgetall(self.keys.offsets)
        return {_text(k): int(v) for k, v in rows.items()}

    async def schedule_cooling(self, due: Mapping[str, float | None]) -> None:
        """Record when each hot lead will cool (None: not hot, drop it from the schedule)."""
        if not due:
            return
        add = {lead: at for lead, at in due.items() if at is not None}
        drop = [lead for lead, at in due.items() if at is None]
        async with self.client.pipeline(transaction=False) as pipe:
            if add:
                pipe.zadd(self.keys.cooling, add)
            if drop:
                pipe.zrem(self.keys.cooling, *drop)
            await pipe.execute()

    async def due_for_cooling(self, now: float, limit: int) -> list[str]:
        ids = await self.client.zrangebyscore(self.keys.cooling, "-inf", now, start=0, num=limit)
        return [i.decode() for i in ids if isinstance(i, bytes)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
