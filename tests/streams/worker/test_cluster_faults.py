"""Faults on a real Redis Cluster under load: nothing lost, nothing doubled.

A worker streams 20,000+ events over 2,000 leads into a three-primary cluster with append-only
files while a primary is SIGKILLed: once restarted on its own data (it may lose up to a second of
writes), once replaced by its replica (which may lag its primary). Either way the shard that lost
writes holds no checkpoint covering them, the worker rewinds to the oldest checkpoint of the
primaries, and the outcome equals the offline engine's on the same events (the shared harness,
``tests/support/faults.py``).

Workers and the harness name the cluster by all its nodes (``Cluster.urls``), as operators are
told to: a client that knows only the node a test killed cannot reach the cluster at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync

from scoring.simulate import simulate
from tests.support.cluster import Cluster, running_cluster
from tests.support.faults import FaultRun
from tests.support.worker import input_records, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def _settled(scenario: FaultRun, name: str, limit: float = 120) -> dict[str, Any]:
    """The outcome once the replay has restored every lead (it runs after the checkpoints are
    back at the end, so they do not say when it is done)."""
    deadline = time.monotonic() + limit
    while True:
        try:
            return scenario.verify(name)
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def _node_checkpoint(port: int, scenario: FaultRun) -> int:
    """Input records checkpointed on one primary, read from that node alone."""
    node = redis_sync.Redis(port=port)
    try:
        keys = list(node.scan_iter(match=f"{scenario.prefix}:offsets:*"))
        offsets = {k: v for key in keys for k, v in node.hgetall(key).items()}
        return input_records(offsets, scenario.env["LEADSCORE_TOPIC_PREFIX"])
    finally:
        node.close()


@pytest.fixture
def run_on(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> Iterator[Callable[[Cluster], FaultRun]]:
    made: list[FaultRun] = []

    def make(cluster: Cluster) -> FaultRun:
        world = simulate(2000, 30, 29, end=datetime.now(UTC) - timedelta(minutes=1))
        assert len(world.events) >= 20_000
        env = worker_env(
            kafka_bootstrap,
            cluster.urls,
            unique,
            LEADSCORE_REDIS_CLUSTER="true",
            LEADSCORE_BATCH_SIZE="200",
        )
        scenario = FaultRun(kafka_bootstrap, cluster.urls, env, world.events, tmp_path)
        made.append(scenario)
        return scenario

    yield make
    for scenario in made:
        scenario.stop()


def test_a_primary_sigkilled_and_restarted_with_aof(
    run_on: Callable[[Cluster], FaultRun], tmp_path: Path
) -> None:
    with running_cluster(tmp_path / "cluster", 3, aof=True) as cluster:
        scenario = run_on(cluster)
        worker = scenario.worker()
        scenario.produce()
        total = len(scenario.events)
        scenario.wait_applied(total // 3)
        victim = cluster.primaries()[1]
        applied = scenario.applied()
        cluster.kill(victim)
        assert applied < total  # mid-stream
        time.sleep(2)
        cluster.start(victim)  # on its own append-only file
        cluster.wait_answers()
        cluster.wait_ok()
        scenario.wait_applied(total)
        assert worker.process is not None and worker.process.poll() is None, worker.tail()
        figures = scenario.verify("cluster_primary_sigkilled_restarted_with_aof")
        assert figures["lost"] == figures["doubled"] == 0


def test_a_shard_that_lost_writes_is_replayed_from_its_own_checkpoint(
    run_on: Callable[[Cluster], FaultRun], tmp_path: Path
) -> None:
    """Deterministic form of a primary crash that lost writes the other shards and Kafka kept.

    After everything was applied, one primary "forgets": its leads are gone and its checkpoint is
    back at the start, as after a crash that lost them. It restarts (a new run id); the worker must
    notice, rewind every partition to that primary's checkpoint, and restore its leads, although
    the other primaries' checkpoints and Kafka's committed offsets say nothing is left to read.
    """
    with running_cluster(tmp_path / "cluster", 3, aof=True) as cluster:
        scenario = run_on(cluster)
        worker = scenario.worker()
        scenario.produce()
        total = len(scenario.events)
        scenario.wait_applied(total)
        scenario.wait_settled()  # idle: the hand-made loss below must not race a batch
        time.sleep(2)  # the worker commits its offsets to Kafka too
        victim = cluster.primaries()[1]
        prefix = scenario.prefix
        node = redis_sync.Redis(port=victim)
        leads = list(node.scan_iter(match=f"{prefix}:lead:*", count=1000))
        assert leads
        with node.pipeline(transaction=False) as pipe:  # one key a command: slots differ
            for key in leads:
                pipe.delete(key)
            pipe.execute()
        (checkpoint,) = node.scan_iter(match=f"{prefix}:offsets:*")
        node.hset(checkpoint, mapping=dict.fromkeys(node.hgetall(checkpoint), 0))
        node.close()
        cluster.stop(victim)  # a clean stop keeps the loss in its append-only file
        cluster.start(victim)
        cluster.wait_answers()
        cluster.wait_ok()
        scenario.wait_applied(total)
        deadline = time.monotonic() + 120
        while worker.metric("leadscore_rewinds_total") < 1:
            assert time.monotonic() < deadline, worker.tail()
            time.sleep(0.5)
        figures = _settled(scenario, "cluster_shard_lost_writes_replayed")
        assert figures["lost"] == figures["doubled"] == 0


def test_a_primary_killed_and_its_replica_promoted(
    run_on: Callable[[Cluster], FaultRun], tmp_path: Path
) -> None:
    """A primary dies mid-stream and its replica takes its slots; the last third of the events
    is produced only once the replica is primary, so they can only be applied through it."""
    with running_cluster(tmp_path / "cluster", 3, replicas=1, aof=True) as cluster:
        scenario = run_on(cluster)
        worker = scenario.worker()
        total = len(scenario.events)
        first, rest = scenario.events[: 2 * total // 3], scenario.events[2 * total // 3 :]
        scenario.produce(first)
        scenario.wait_applied(total // 3)
        before = set(cluster.primaries())
        victim = sorted(before)[1]
        cluster.kill(victim)
        deadline = time.monotonic() + 60
        while len(set(cluster.primaries()) - before) != 1:  # the replica took over
            assert time.monotonic() < deadline, "no replica was promoted"
            time.sleep(0.3)
        (promoted,) = set(cluster.primaries()) - before
        assert victim not in cluster.primaries()
        cluster.wait_ok()
        at_promotion = _node_checkpoint(promoted, scenario)
        assert at_promotion <= len(first) < total
        scenario.produce(rest)
        scenario.wait_applied(total)
        assert worker.process is not None and worker.process.poll() is None, worker.tail()
        # the promoted primary's own checkpoint moved past everything: the worker wrote the
        # batches of the last third to it (a checkpoint moves after the batch's lead writes)
        assert _node_checkpoint(promoted, scenario) == total
        figures = scenario.verify("cluster_replica_promoted")
        assert worker.metric("leadscore_rewinds_total") >= 1
        assert figures["lost"] == figures["doubled"] == 0
