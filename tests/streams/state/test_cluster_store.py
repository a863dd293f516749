"""The lead store on a real Redis Cluster: one call per node, redirections, checkpoints per shard.

A batch of leads spans hundreds of hash slots. The store sends each primary one script call for
the leads it serves (counted here from the primaries' own command statistics), falls back to one
call per slot when its slot map is out of date, and keeps each primary's checkpoints on that
primary, so a shard that lost writes never holds a checkpoint that covers them.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis as redis_sync
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError

from streams.observability.metrics import Metrics
from streams.state.keys import Keys
from streams.state.record import encode
from streams.state.redis_store import RedisLeadStore, connect
from streams.state.store import LeadWrite
from streams.worker.retry import may_retry
from tests.support.cluster import Cluster, running_cluster

pytestmark = pytest.mark.integration

IDS = [f"lead-{n}" for n in range(500)]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running_cluster(tmp_path_factory.mktemp("cluster-store"), 3) as running:
        yield running


@pytest.fixture
async def client(cluster: Cluster) -> AsyncIterator[aioredis.Redis]:
    made = connect(cluster.url, cluster=True)
    yield made
    await made.aclose()


def _script_calls(cluster: Cluster) -> dict[int, int]:
    """EVAL and EVALSHA calls each primary has served so far."""
    calls = {}
    for port in cluster.primaries():
        node = redis_sync.Redis(port=port)
        stats = node.info("commandstats")
        node.close()
        calls[port] = sum(
            stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("eval", "evalsha")
        )
    return calls


async def _write_all(store: RedisLeadStore, ids: list[str]) -> None:
    loaded = await store.load(ids)
    writes = [LeadWrite(i, v.version, encode(v, v.version + 1), b"[1]") for i, v in loaded.items()]
    assert await store.commit(writes) == []


async def test_a_batch_costs_one_script_call_per_primary(
    cluster: Cluster, client: aioredis.Redis, unique: str
) -> None:
    store = RedisLeadStore(client, Keys(f"n-{unique}"), 5, Metrics())
    await store.restarted()
    await _write_all(store, IDS[:10])  # scripts cached everywhere
    assert await store.finish(dict.fromkeys(IDS[:10], b"[1]"), {"in:0": 10})
    before = _script_calls(cluster)
    await _write_all(store, IDS)
    assert await store.finish(dict.fromkeys(IDS, b"[1]"), {"in:0": 500})
    after = _script_calls(cluster)
    assert {p: after[p] - before[p] for p in after} == dict.fromkeys(
        after, 3
    )  # load, commit, finish
    stored = await store.load(IDS)
    assert {v.version for v in stored.values()} == {1, 2} and not any(
        v.outbox for v in stored.values()
    )


async def test_a_stale_slot_map_still_lands_the_batch(client: aioredis.Redis, unique: str) -> None:
    store = RedisLeadStore(client, Keys(f"s-{unique}"), 5, Metrics())
    await store.restarted()
    await _write_all(store, IDS)
    cluster_client = client
    assert isinstance(cluster_client, RedisCluster)
    manager = cluster_client.nodes_manager
    primaries = cluster_client.get_primaries()
    for slot, nodes in list(manager.slots_cache.items()):  # every slot points at a wrong primary
        wrong = next(p for p in primaries if p.name != nodes[0].name)
        manager.slots_cache[slot] = [wrong]
    loaded = await store.load(IDS)
    assert {v.version for v in loaded.values()} == {1}
    writes = [LeadWrite(i, v.version, encode(v, v.version + 1), b"") for i, v in loaded.items()]
    assert await store.commit(writes) == []  # MOVED followed, every write applied once
    assert {v.version for v in (await store.load(IDS)).values()} == {2}


async def test_each_primary_keeps_its_own_checkpoint(
    cluster: Cluster, client: aioredis.Redis, unique: str
) -> None:
    prefix = f"c-{unique}"
    store = RedisLeadStore(client, Keys(prefix), 5, Metrics())
    await store.restarted()
    assert await store.finish({}, {"in:0": 7, "in:1": 3})
    for port in cluster.primaries():
        node = redis_sync.Redis(port=port)
        keys = list(node.scan_iter(match=f"{prefix}:offsets:*"))
        assert len(keys) == 1, port  # on the primary itself, no redirection
        assert node.hgetall(keys[0]) == {b"in:0": b"7", b"in:1": b"3"}
        node.close()
    assert await store.checkpoints() == {"in:0": 7, "in:1": 3}


async def test_an_unknown_primary_keeps_its_checkpoint_back(
    cluster: Cluster, client: aioredis.Redis, unique: str
) -> None:
    store = RedisLeadStore(client, Keys(f"u-{unique}"), 5, Metrics())
    await store.restarted()
    assert await store.finish({}, {"in:0": 10})
    # as after a failover: one primary is not the instance the store knows
    gone = sorted(store.run_ids)[0]
    store.run_ids[gone] = "0" * 40
    assert not await store.finish({}, {"in:0": 20})
    assert await store.checkpoints() == {"in:0": 10}  # the oldest: the unknown primary's
    await store.adopt_instances()  # as a rewind does
    assert await store.finish({}, {"in:0": 30})
    assert await store.checkpoints() == {"in:0": 30}


async def test_a_primary_that_lost_its_checkpoint_rewinds_to_the_start(
    cluster: Cluster, client: aioredis.Redis, unique: str
) -> None:
    prefix = f"l-{unique}"
    store = RedisLeadStore(client, Keys(prefix), 5, Metrics())
    await store.restarted()
    assert await store.finish({}, {"in:0": 10})
    node = redis_sync.Redis(port=cluster.primaries()[1])
    node.delete(*node.scan_iter(match=f"{prefix}:offsets:*"))
    node.close()
    assert await store.checkpoints() == {"in:0": 0}


async def test_a_primary_seen_by_the_watch_is_not_trusted_before_a_rewind(
    client: aioredis.Redis, unique: str
) -> None:
    """The Redis watch sees a promoted replica while the worker waits for events; the next
    batch must not move that primary's checkpoint past writes it may lack: only the rewind, which
    reads the checkpoints it goes back to, may trust it."""
    store = RedisLeadStore(client, Keys(f"r-{unique}"), 5, Metrics())
    await store.restarted()
    assert await store.finish({}, {"in:0": 10})
    real = dict(store.run_ids)
    node = sorted(real)[0]
    store.run_ids[node] = "0" * 40  # the instance trusted there is gone
    assert await store.restarted()  # the watch sees the one now there...
    assert store.run_ids[node] == "0" * 40  # ...and does not trust it
    await _write_all(store, IDS[:20])  # a batch that begins after the watch looked
    assert not await store.finish(dict.fromkeys(IDS[:20], b"[1]"), {"in:0": 20})
    assert await store.checkpoints() == {"in:0": 10}
    await store.adopt_instances()  # the rewind
    assert store.run_ids == real
    assert await store.finish({}, {"in:0": 20})
    assert await store.checkpoints() == {"in:0": 20}


async def test_a_client_starts_from_any_node_it_is_told_of(cluster: Cluster, unique: str) -> None:
    """A worker started while a node its URL names is down (failed, or replaced by its replica)
    still reaches the cluster when LEADSCORE_REDIS_URL names other nodes too."""
    with socket.socket() as closed:  # bound, never listening: refused at once
        closed.bind(("127.0.0.1", 0))
        down = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
        client = connect(f"{down},{cluster.url}", cluster=True)
        try:
            store = RedisLeadStore(client, Keys(f"a-{unique}"), 5, Metrics())
            await store.restarted()
            assert sorted(int(n.split(":")[1]) for n in store.run_ids) == sorted(
                cluster.primaries()
            )
            assert await store.finish({}, {"in:0": 5})
            assert await store.checkpoints() == {"in:0": 5}
        finally:
            await client.aclose()


async def test_a_connection_closed_under_a_command_is_a_lost_connection(
    client: aioredis.Redis, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """redis-py closes a node's connections on another command's connection error (or on
    CLUSTERDOWN), also under a command in flight, which then fails with AttributeError on the
    closed writer; seen as a worker stopping in a rewind while a primary restarted. That must
    reach the worker as a lost connection, which it retries, not as a bug, which stops it."""
    store = RedisLeadStore(client, Keys(f"w-{unique}"), 5, Metrics())
    await store.restarted()
    assert await store.finish({}, {"in:0": 4})
    cluster_client = client
    assert isinstance(cluster_client, RedisCluster)
    node = cluster_client.get_primaries()[0]
    real = ClusterNode.execute_command
    closed = [node]  # the next command on this node meets its connection closed, once

    async def execute(self: ClusterNode, *args: Any, **kwargs: Any) -> Any:
        if self in closed:
            closed.remove(self)
            raise AttributeError("'NoneType' object has no attribute 'writelines'")
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(ClusterNode, "execute_command", execute)
    with pytest.raises(RedisConnectionError):
        await client.info("server", target_nodes=RedisCluster.PRIMARIES)
    # the same under a pipeline of the cluster client's (the cooling schedule is one)
    real_pipeline = ClusterNode.execute_pipeline

    async def execute_pipeline(self: ClusterNode, commands: Any) -> Any:
        raise AttributeError("'NoneType' object has no attribute 'writelines'")

    monkeypatch.setattr(ClusterNode, "execute_pipeline", execute_pipeline)
    with pytest.raises(RedisConnectionError):
        await store.schedule_cooling({"lead-1": 1.0})
    monkeypatch.setattr(ClusterNode, "execute_pipeline", real_pipeline)
    await store.schedule_cooling({"lead-1": 1.0})
    assert may_retry(RedisConnectionError("closed"))
    assert await store.checkpoints() == {"in:0": 4}
