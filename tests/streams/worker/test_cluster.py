"""leadscore on Redis Cluster: a real three-node cluster, started by the test from Debian's Redis.

A batch touches leads in many hash slots; on a cluster the store sends one script call per node
(per slot when its slot map is out of date), so every guarantee the single-Redis tests check must
hold here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import redis.asyncio as aioredis

from scoring.model import default_model
from streams.observability.metrics import Metrics
from streams.state.keys import Keys
from streams.state.redis_store import RedisLeadStore, connect
from streams.worker.cache import LeadCache
from streams.worker.processor import Processor
from tests.support.cluster import running_cluster
from tests.support.http import wait_for_lead
from tests.support.processing import alerts, make_processor, records
from tests.support.seeds import seed_hot_lead
from tests.support.worker import WorkerProcess, jsonl, read_topic, run_cli

pytestmark = pytest.mark.integration

NODES = 3


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_cluster(tmp_path_factory.mktemp("cluster"), NODES) as running:
        yield running.url


@pytest.fixture
async def cluster(cluster_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(cluster_url, cluster=True)
    yield client
    await client.aclose()


def on_cluster(client: aioredis.Redis, unique: str, cache: int = 0) -> Processor:
    metrics = Metrics()
    store = RedisLeadStore(client, Keys(f"c-{unique}"), 10, metrics)
    return Processor(store, [default_model()], metrics, 65536, cache=LeadCache(cache))


async def test_a_batch_over_many_slots_lands_whole(
    cluster: aioredis.Redis, redis_url: str, unique: str
) -> None:
    now = datetime.now(UTC)
    events = [e for n in range(12) for e in seed_hot_lead(f"lead-{n}", now)]
    processor = on_cluster(cluster, unique, cache=100)
    assert processor.store.cluster
    assert len(processor.store._by_slot(f"lead-{n}" for n in range(12))) > 1  # several slots
    outcome = await processor.process(records(events))
    assert len(alerts(outcome)) == 12
    assert await processor.confirm(outcome)
    assert await processor.store.checkpoints() == {"in:0": len(events)}
    assert [k async for k in cluster.scan_iter(match=f"c-{unique}:out:*")] == []  # all cleared

    # the same batch on a single Redis gives the same leads
    single = connect(redis_url)
    try:
        plain = make_processor(single, unique)
        await plain.confirm(await plain.process(records(events)))
        ids = [f"lead-{n}" for n in range(12)]
        here = await RedisLeadStore(cluster, Keys(f"c-{unique}"), 10, Metrics()).load(ids)
        there = await plain.store.load(ids)
        for lead_id in ids:
            a, b = here[lead_id].state("default"), there[lead_id].state("default")
            assert (a.seen, a.profile, a.hot) == (b.seen, b.profile, b.hot)
            assert a.crossings == b.crossings == 1
            assert here[lead_id].summaries == there[lead_id].summaries
        keys = [k async for k in single.scan_iter(match=f"p-{unique}:*")]
        await single.delete(*keys)
    finally:
        await single.aclose()

    # a repeat changes nothing and sends nothing, lead by lead across the slots
    again = await on_cluster(cluster, unique).process(records(events))
    assert again.messages == []


async def test_a_rival_writer_on_the_cluster_is_detected(
    cluster: aioredis.Redis, unique: str
) -> None:
    seed = seed_hot_lead("shared-lead", datetime.now(UTC))
    cached, rival = on_cluster(cluster, unique, cache=10), on_cluster(cluster, unique)
    await cached.confirm(await cached.process(records(seed[:3])))
    await rival.confirm(await rival.process(records(seed[3:5])))
    await cached.confirm(await cached.process(records(seed[5:])))
    assert cached.metrics.state_conflicts._value.get() == 1
    stored = (await cached.store.load(["shared-lead"]))["shared-lead"]
    assert len(stored.state("default").seen) == len(seed)


async def test_a_restarted_primary_is_noticed(cluster: aioredis.Redis, unique: str) -> None:
    store = RedisLeadStore(cluster, Keys(f"c-{unique}"), 10, Metrics())
    assert await store.load([]) == {}  # no slots to ask: no command, no error
    assert not await store.restarted()
    assert len(store.run_ids) == NODES
    store.run_ids[sorted(store.run_ids)[0]] = "0" * 40  # as if one had restarted
    assert await store.restarted()
    assert await store.restarted()  # seen, not trusted: until a rewind adopts it
    await store.adopt_instances()
    assert not await store.restarted()


async def test_leads_whose_ids_hold_braces_land_whole(cluster: aioredis.Redis, unique: str) -> None:
    now = datetime.now(UTC)
    ids = ["}x", "{a}", "{", "x{y}z", "}{"]
    events = [e for lead_id in ids for e in seed_hot_lead(lead_id, now)]
    processor = on_cluster(cluster, unique)
    outcome = await processor.process(records(events))
    assert sorted(a["lead_id"] for a in alerts(outcome)) == sorted(ids)
    assert await processor.confirm(outcome)
    stored = await processor.store.load(ids)
    assert all(len(stored[i].state("default").seen) == 8 for i in ids)
    assert sorted({i async for i in processor.store.lead_ids()}) == sorted(ids)
    assert (await on_cluster(cluster, unique).process(records(events))).messages == []


async def test_a_cluster_of_one_primary_starts(tmp_path: Path, unique: str) -> None:
    with running_cluster(tmp_path, 1) as running:
        client = connect(running.url, cluster=True)
        try:
            store = RedisLeadStore(client, Keys(f"c-{unique}"), 10, Metrics())
            assert not await store.restarted()
            assert len(store.run_ids) == 1
        finally:
            await client.aclose()


def test_the_worker_scores_and_alerts_on_a_cluster(
    start_worker: Callable[..., WorkerProcess],
    cluster_url: str,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    worker = start_worker(LEADSCORE_REDIS_URL=cluster_url, LEADSCORE_REDIS_CLUSTER="true")
    path = tmp_path / "seed.jsonl"
    path.write_bytes(jsonl(seed_hot_lead("cluster-lead", datetime.now(UTC))))
    for _ in range(2):  # the second time, every event is a repeat
        produced = run_cli("produce", str(path), env=worker.env)
        assert produced.returncode == 0, produced.stderr
    body = wait_for_lead(worker, "cluster-lead", events=16)
    assert orjson.loads(body)["scores"][0]["score"] == 85
    hot = worker.env["LEADSCORE_TOPIC_PREFIX"] + "leads.hot"
    published = asyncio.run(read_topic(kafka_bootstrap, hot))
    leads = [orjson.loads(m.value)["lead_id"] for m in published]
    assert leads == ["cluster-lead"]  # one alert, and the repeated events made no second one
