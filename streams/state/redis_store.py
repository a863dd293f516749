"""Lead state in Redis.

Each lead is one string (see :mod:`~.record`) written by a compare-and-set script, plus, only
while Kafka has not acknowledged them, an outbox key with the messages its last change produced.
Writing the state and its outbox in one script is what lets an alert survive a crash between the
Redis write and the Kafka send.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import parse_url
from redis.backoff import ExponentialBackoff
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from streams.observability.metrics import Metrics
from streams.settings import redis_nodes
from streams.state import record
from streams.state.cluster_batch import ClusterClient
from streams.state.cluster_ops import COMMIT, FINISH, ClusterOps
from streams.state.keys import Keys
from streams.state.record import StoredLead
from streams.state.store import LeadWrite

__all__ = ["RedisLeadStore", "connect"]

SCAN_COUNT = 10_000  # keys looked at per SCAN step: a few milliseconds of Redis, few round trips
_CHANGED = "changed"  # never a run id: a finish expecting it moves no checkpoint


def connect(url: str, cluster: bool = False) -> aioredis.Redis:
    """A client that rides out short Redis outages by retrying with backoff.

    With ``cluster``, redis-py's cluster client, reached through the nodes ``url`` names (one, or
    several comma-separated; credentials and options come from the first). The client asks the
    first that answers for the cluster's nodes and learns the rest from it: a client started while
    the only node it was told of is down (failed, or replaced by its replica) cannot reach a
    cluster that is otherwise fine, so name more than one. It offers every command leadscore uses
    under the same names, so it is typed as the plain client.
    """
    retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), retries=20)
    if cluster:
        first, *others = redis_nodes(url)
        seeds = [
            ClusterNode(str(node.get("host", "localhost")), int(node.get("port", 6379)))
            for node in map(parse_url, others)
        ]
        client = ClusterClient.from_url(
            first,
            startup_nodes=seeds or None,
            retry=retry,
            socket_timeout=10,
            socket_connect_timeout=5,
        )
        return cast(aioredis.Redis, client)
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

    On one Redis each call is also one command (a multi-key read or script) for the whole batch:
    per-lead commands cost the client more than the writes cost Redis. On Redis Cluster a command
    may only touch one hash slot, so there a batch becomes one command per slot (a lead's keys
    share its slot through their hash tag), and those go as one pipeline per node, to every node
    at once (:mod:`~.cluster_batch`): still one round trip.
    """

    def __init__(
        self, client: aioredis.Redis, keys: Keys, history_length: int, metrics: Metrics
    ) -> None:
        self.client = client
        self.keys = keys
        self.history_length = max(history_length, 0)
        self.metrics = metrics
        self.cluster = isinstance(client, RedisCluster)
        # The Redis instance (its run id) the checkpoints may advance on, and on a cluster each
        # primary's, by node name ("host:port"). Learnt at the first look, then replaced only by
        # ``adopt_instances``: see ``finish``.
        self.run_id: str | None = None
        self.run_ids: dict[str, str] = {}
        self._commit = client.register_script(COMMIT)
        self._finish = client.register_script(FINISH)
        self._nodes = ClusterOps(cast(RedisCluster, client), keys) if self.cluster else None

    def _slots(self, lead_ids: Iterable[str]) -> dict[int, list[str]]:
        """The leads by the hash slot their keys share."""
        groups: dict[int, list[str]] = {}
        for lead_id in lead_ids:
            groups.setdefault(key_slot(self.keys.lead(lead_id).encode()), []).append(lead_id)
        return groups

    def _by_slot(self, lead_ids: Iterable[str]) -> list[list[str]]:
        """The leads in groups whose keys share a hash slot; a single group outside a cluster."""
        if not self.cluster:
            return [list(lead_ids)]
        return list(self._slots(lead_ids).values())

    async def load(self, lead_ids: Iterable[str]) -> dict[str, StoredLead]:
        ids = list(lead_ids)
        if not ids:
            return {}
        started = time.perf_counter()
        if self._nodes is not None:
            found = await self._nodes.load(self._slots(ids))
        else:
            keys = self.keys
            names = [k for i in ids for k in (keys.lead(i), keys.outbox(i))]
            values = await self.client.mget(names)
            found = {i: (values[2 * n], values[2 * n + 1]) for n, i in enumerate(ids)}
        self.metrics.redis_seconds.labels("load").observe(time.perf_counter() - started)
        return {lead_id: record.decode(lead_id, *found[lead_id]) for lead_id in ids}

    async def commit(self, writes: Sequence[LeadWrite]) -> list[str]:
        """Apply the writes; return the ids of leads that changed under us (write not applied)."""
        if not writes:
            return []
        started = time.perf_counter()
        if self._nodes is not None:
            by_slot: dict[int, list[LeadWrite]] = {}
            for w in writes:
                by_slot.setdefault(key_slot(self.keys.lead(w.lead_id).encode()), []).append(w)
            conflicts = await self._nodes.commit(by_slot)
        else:
            found = await self._commit(*self._commit_args(writes))
            conflicts = [writes[int(i) - 1].lead_id for i in found]
        self.metrics.redis_seconds.labels("commit").observe(time.perf_counter() - started)
        return conflicts

    def _commit_args(self, writes: Sequence[LeadWrite]) -> tuple[list[str], list[bytes | int]]:
        keys: list[str] = []
        args: list[bytes | int] = []
        for w in writes:
            keys += [self.keys.lead(w.lead_id), self.keys.outbox(w.lead_id)]
            args += [w.version, w.record, w.outbox]
        return keys, args

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
        writes in order (a replica, too, holds a prefix of its primary's writes); so a checkpoint
        that survives a crash never covers a lost state on the same instance. Returns False when
        Redis is not the instance the checkpoints were last read from (it restarted, or a replica
        took over): the checkpoints then stay where they are, and the caller must rewind to them.

        The checkpoints advance only on the instances trusted since the last rewind, never on
        one merely seen since: a new instance may lack writes made before it came, and only a
        rewind to its own checkpoint replays them. Trusting it as soon as the Redis watch saw it
        would let the next batch move its checkpoint past the loss before the rewind ran.

        On Redis Cluster the same holds shard by shard: every primary keeps its own checkpoints
        (in the first checkpoint group it serves, see :meth:`Keys.group_offsets`), written after the
        batch's leads on every primary and only while that primary is a trusted instance. A shard
        that lost writes thus never holds a checkpoint covering them, and the rewind goes back to
        the oldest checkpoint of all (:meth:`checkpoints`).
        """
        if not sent and not offsets:
            return True
        started = time.perf_counter()
        if self.cluster:
            sure = await self._finish_on_cluster(sent, offsets)
        else:
            pairs: list[str | int] = []
            for field, offset in offsets.items():
                pairs += [field, offset]
            keys = [self.keys.outbox(lead_id) for lead_id in sent]
            if offsets:
                keys.insert(0, self.keys.offsets)
            args = [self.run_id or "", len(offsets), *pairs, *sent.values()]
            now = _text(await self._finish(keys=keys, args=args))
            sure = not offsets or self._is_trusted(now)
        self.metrics.redis_seconds.labels("finish").observe(time.perf_counter() - started)
        return sure

    async def _finish_on_cluster(
        self, sent: Mapping[str, bytes], offsets: Mapping[str, int]
    ) -> bool:
        assert self._nodes is not None
        trusted = dict(self.run_ids)

        def expected(node: str) -> str:
            # an untrusted primary (promoted replica, new shard) keeps its checkpoints still
            return trusted.get(node, _CHANGED) if trusted else ""

        run_ids = await self._nodes.finish(sent, offsets, expected)
        if not trusted:  # the first look: nothing to compare with
            self.run_ids.update(run_ids)
            return True
        return all(trusted.get(node) == run_id for node, run_id in run_ids.items())

    async def restarted(self) -> bool:
        """Whether Redis is another instance than the one trusted (it restarted) since the last
        rewind; the first look only learns the instance.

        On a cluster: whether the primaries are other instances (one restarted, a replica was
        promoted, a shard came or went). It does not trust what it sees: see ``finish``.
        """
        seen = await self._instances()
        if self.cluster:
            if not self.run_ids:
                self.run_ids = seen
            return seen != self.run_ids
        (now,) = seen.values()
        return not self._is_trusted(now)

    async def adopt_instances(self) -> None:
        """Trust the instances Redis has now: called by a rewind just before it reads the
        checkpoints it goes back to, so writes a new instance lacks are replayed from there."""
        seen = await self._instances()
        if self.cluster:
            self.run_ids = seen
        else:
            (self.run_id,) = seen.values()

    async def _instances(self) -> dict[str, str]:
        """The run id of Redis, or on a cluster of each primary, by node name."""
        if self._nodes is None:
            info = await self.client.info("server")
            return {"": str(info["run_id"])}
        self._nodes.forget_topology()
        client = cast(RedisCluster, self.client)
        nodes = await client.info("server", target_nodes=RedisCluster.PRIMARIES)
        # redis-py answers {node: info} for several primaries, the bare info for just one
        if "run_id" in nodes:
            nodes = {client.get_primaries()[0].name: nodes}
        return {name: str(info["run_id"]) for name, info in nodes.items()}

    def _is_trusted(self, run_id: str) -> bool:
        """Whether ``run_id`` is the trusted instance; the first one seen becomes it."""
        if self.run_id is None:
            self.run_id = run_id
        return self.run_id == run_id

    async def lead_ids(self) -> AsyncIterator[str]:
        """Every stored lead id, by SCAN (never a blocking KEYS); an id may come more than once."""
        for pattern in self.keys.lead_patterns():
            async for key in self.client.scan_iter(match=pattern, count=SCAN_COUNT):
                lead_id = self.keys.lead_id_of(key)
                if lead_id is not None:
                    yield lead_id

    async def scored_by(self) -> str | None:
        found = await self.client.get(self.keys.scored_by)
        return None if found is None else _text(found)

    async def mark_scored_by(self, label: str) -> None:
        await self.client.set(self.keys.scored_by, label)

    async def checkpoints(self) -> dict[str, int]:
        """Every partition's checkpoint, as ``{"topic:partition": next offset}``.

        On a cluster, the oldest of the primaries' checkpoints; 0 for a partition one primary
        lacks while others have it (it lost it, never took it while unknown, or its group moved
        with a resharding): replaying from the start is slow but loses nothing.
        """
        if self._nodes is None:
            rows = await self.client.hgetall(self.keys.offsets)
            return {_text(k): int(v) for k, v in rows.items()}
        groups = await self._nodes.checkpoints()
        fields = {field for group in groups for field in group}
        return {f: min(group.get(f, 0) for group in groups) for f in fields}

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

    async def cooling_times(self, lead_ids: Sequence[str]) -> dict[str, float]:
        """One ``ZMSCORE`` for them all (the schedule is one key, on one node of a cluster)."""
        if not lead_ids:
            return {}
        found = await self.client.zmscore(self.keys.cooling, list(lead_ids))
        return {i: float(t) for i, t in zip(lead_ids, found, strict=True) if t is not None}

    async def due_for_cooling(self, now: float, limit: int) -> list[str]:
        ids = await self.client.zrangebyscore(self.keys.cooling, "-inf", now, start=0, num=limit)
        return [i.decode() for i in ids if isinstance(i, bytes)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
