"""Lead state in Redis.

Each lead is one string (see :mod:`~.record`) written by a compare-and-set script, plus, only
while Kafka has not acknowledged them, an outbox key with the messages its last change produced.
Writing the state and its outbox in one script is what lets an alert survive a crash between the
Redis write and the Kafka send.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import ExponentialBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from streams.observability.metrics import Metrics
from streams.state import record
from streams.state.keys import Keys
from streams.state.record import StoredLead
from streams.state.store import LeadWrite

_LUA = Path(__file__).with_name("lua")

__all__ = ["RedisLeadStore", "connect"]


def connect(url: str, cluster: bool = False) -> aioredis.Redis:
    """A client that rides out short Redis outages by retrying with backoff.

    With ``cluster``, redis-py's cluster client, reached through the node ``url`` names. It offers
    every command leadscore uses under the same names, so it is typed as the plain client.
    """
    retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=20)
    if cluster:
        return cast(
            aioredis.Redis,
            RedisCluster.from_url(url, retry=retry, socket_timeout=10, socket_connect_timeout=5),
        )
    return aioredis.Redis.from_url(
        url,
        retry=retry,
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_timeout=10,
        socket_connect_timeout=5,
        health_check_interval=15,
    )


class RedisLeadStore:
    """The :class:`~streams.state.store.LeadStore` of production, in Redis.

    Every call is one network round trip however many leads it covers.

    Each call is also one Redis command (a multi-key read or script) for the whole batch: per-lead
    commands cost the client more than the writes cost Redis. On Redis Cluster a command may only
    touch one hash slot, so there a batch is split into one command per slot (a lead's keys share
    its slot through their hash tag), sent one after another: sent concurrently, they raced inside
    redis-py's asyncio cluster client while it opened a node connection (AttributeError on a
    connection without its writer), and its cluster pipeline refuses MGET.
    """

    def __init__(
        self, client: aioredis.Redis, keys: Keys, history_length: int, metrics: Metrics
    ) -> None:
        self.client = client
        self.keys = keys
        self.history_length = max(history_length, 0)
        self.metrics = metrics
        self.cluster = isinstance(client, RedisCluster)
        # The Redis instance (its run id) the checkpoints may advance on; see ``finish``.
        self.run_id: str | None = None
        self._commit = client.register_script(_LUA.joinpath("commit.lua").read_bytes())
        self._finish = client.register_script(_LUA.joinpath("finish.lua").read_bytes())

    def _by_slot(self, lead_ids: Iterable[str]) -> list[list[str]]:
        """The leads in groups whose keys share a hash slot; a single group outside a cluster."""
        ids = list(lead_ids)
        if not self.cluster:
            return [ids]
        groups: dict[int, list[str]] = {}
        for lead_id in ids:
            groups.setdefault(key_slot(self.keys.lead(lead_id).encode()), []).append(lead_id)
        return list(groups.values())

    async def load(self, lead_ids: Iterable[str]) -> dict[str, StoredLead]:
        ids = list(lead_ids)
        if not ids:
            return {}
        groups = self._by_slot(ids)
        started = time.perf_counter()
        keys = self.keys
        rows: list[list[Any]] = [
            await self.client.mget([k for i in group for k in (keys.lead(i), keys.outbox(i))])
            for group in groups
        ]
        self.metrics.redis_seconds.labels("load").observe(time.perf_counter() - started)
        return {
            lead_id: record.decode(lead_id, found[2 * n], found[2 * n + 1])
            for group, found in zip(groups, rows, strict=True)
            for n, lead_id in enumerate(group)
        }

    async def commit(self, writes: Sequence[LeadWrite]) -> list[str]:
        """Apply the writes; return the ids of leads that changed under us (write not applied)."""
        if not writes:
            return []
        started = time.perf_counter()
        by_id = {w.lead_id: w for w in writes}
        found = [
            await self._commit_group([by_id[i] for i in group]) for group in self._by_slot(by_id)
        ]
        self.metrics.redis_seconds.labels("commit").observe(time.perf_counter() - started)
        return [lead_id for conflicts in found for lead_id in conflicts]

    async def _commit_group(self, writes: list[LeadWrite]) -> list[str]:
        keys: list[str] = []
        args: list[bytes | int] = []
        for w in writes:
            keys += [self.keys.lead(w.lead_id), self.keys.outbox(w.lead_id)]
            args += [w.version, w.record, w.outbox]
        conflicts = await self._commit(keys=keys, args=args)
        return [writes[int(i) - 1].lead_id for i in conflicts]

    async def expire(self, ttl: Mapping[str, float | None]) -> None:
        """Let records expire ``ttl[id]`` seconds from now, or keep them for good (None).

        Not part of the lead-store protocol: only anonymous visitors' records expire (see
        ``LEADSCORE_ANONYMOUS_TTL_DAYS``), and an expiry lost to a crash is set by their next
        write, so it needs no compare-and-set.
        """
        if not ttl:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for lead_id, seconds in ttl.items():
                key = self.keys.lead(lead_id)
                if seconds is None:
                    pipe.persist(key)
                else:
                    pipe.expire(key, max(int(seconds), 1))
            await pipe.execute()

    async def finish(self, sent: Mapping[str, bytes], offsets: Mapping[str, int]) -> bool:
        """After Kafka acknowledged a batch's messages: clear the outboxes, advance checkpoints.

        Both happen after every lead write of the batch, and Redis's append-only file keeps
        writes in order; so a checkpoint that survives a Redis crash never covers a lost state.
        Returns False when Redis turns out to have restarted since this store last looked: the
        checkpoints then stay where they are, and the caller must rewind to them. On Redis Cluster
        the checkpoints live on one shard and the leads on all of them, so no single run id can
        vouch for the batch there; the cluster relies on the run-id watch alone.
        """
        if not sent and not offsets:
            return True
        started = time.perf_counter()
        pairs: list[str | int] = []
        for field, offset in offsets.items():
            pairs += [field, offset]
        if not self.cluster:
            keys = [self.keys.outbox(lead_id) for lead_id in sent]
            if offsets:
                keys.insert(0, self.keys.offsets)
            args = [self.run_id or "", len(offsets), *pairs, *sent.values()]
            run_id = _text(await self._finish(keys=keys, args=args))
            self.metrics.redis_seconds.labels("finish").observe(time.perf_counter() - started)
            return not offsets or not self._saw_restart(run_id)
        for group in self._by_slot(sent):
            outboxes = [self.keys.outbox(i) for i in group]
            await self._finish(keys=outboxes, args=["", 0, *(sent[i] for i in group)])
        if offsets:
            await self._finish(keys=[self.keys.offsets], args=["", len(offsets), *pairs])
        self.metrics.redis_seconds.labels("finish").observe(time.perf_counter() - started)
        return True

    async def restarted(self) -> bool:
        """Whether Redis is another instance (it restarted) since this store last looked.

        On a cluster: whether any primary is another instance.
        """
        if self.cluster:
            nodes = await self.client.info("server", target_nodes=RedisCluster.PRIMARIES)
            # redis-py answers {node: info} for several primaries, the bare info for just one
            infos = [nodes] if "run_id" in nodes else list(nodes.values())
            return self._saw_restart(",".join(sorted(str(n["run_id"]) for n in infos)))
        info = await self.client.info("server")
        return self._saw_restart(str(info["run_id"]))

    def _saw_restart(self, run_id: str) -> bool:
        known, self.run_id = self.run_id, run_id
        return known is not None and known != run_id

    async def lead_ids(self) -> AsyncIterator[str]:
        """Every stored lead id, by SCAN (never a blocking KEYS); an id may come more than once."""
        for pattern in self.keys.lead_patterns():
            async for key in self.client.scan_iter(match=pattern, count=1000):
                lead_id = self.keys.lead_id_of(key)
                if lead_id is not None:
                    yield lead_id

    async def scored_by(self) -> str | None:
        found = await self.client.get(self.keys.scored_by)
        return None if found is None else _text(found)

    async def mark_scored_by(self, label: str) -> None:
        await self.client.set(self.keys.scored_by, label)

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
