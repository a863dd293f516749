"""The fault tests' one harness: a run of real workers over a simulated world, and its verdict.

A :class:`FaultRun` holds the events of one world, the settings of the workers it starts, and the
Redis they write to: one Redis, or a Redis Cluster named by several of its nodes. Single-Redis and
cluster fault tests drive it alike (start workers, produce, wait until the checkpoints say the
events were applied, break something, wait again) and end with :meth:`FaultRun.verify`, which
judges the stored leads, visitors and accounts, ``leads.hot`` and ``accounts.hot`` with
:mod:`tests.support.outcome` and writes the figures to ``test-artifacts/faults.jsonl`` for the
record.

Only input records count as applied: the worker also reads what it wrote itself to its internal
topics (identity links, account summaries), and :meth:`FaultRun.verify` first waits until those
are checkpointed to their ends, so the accounts have heard of the last events too.

Progress is read through the lead store itself (its checkpoints, the oldest of each primary's on
a cluster), over a client that, like the worker's, starts from any node that answers. While
Redis does not answer (restarting, a primary failing over) the wait goes on; if that lasts to
the deadline the failure names the last error rather than a count of nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from redis.exceptions import BusyLoadingError, ClusterDownError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streams.bench.proc import free_port
from streams.bench.settle import wait_settled
from streams.observability.metrics import Metrics
from streams.settings import TopicNames
from streams.state.keys import Keys
from streams.state.record import StoredLead
from streams.state.redis_store import RedisLeadStore, connect
from streams.worker import identity
from tests.support.outcome import check_outcome, check_visitors_and_accounts
from tests.support.paths import ROOT
from tests.support.worker import WorkerProcess, input_records, jsonl, read_topic, run_cli

__all__ = ["ARTIFACTS", "FaultRun"]

ARTIFACTS = ROOT / "test-artifacts"

# What Redis answers while it restarts or a cluster fails over: wait, do not judge yet. A cluster
# client that reaches none of its nodes raises the bare RedisClusterException.
_NOT_YET = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    ClusterDownError,
    RedisClusterException,
)


@dataclass
class FaultRun:
    """One fault scenario: its events, its workers' settings and the workers it started."""

    kafka: str
    redis_url: str
    env: dict[str, str]
    events: list[dict[str, Any]]
    logs: Path
    workers: list[WorkerProcess] = field(default_factory=list)
    _produced: int = 0

    @property
    def cluster(self) -> bool:
        return self.env.get("LEADSCORE_REDIS_CLUSTER") == "true"

    @property
    def prefix(self) -> str:
        return self.env["LEADSCORE_REDIS_PREFIX"]

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.env["LEADSCORE_TOPIC_PREFIX"])

    def worker(self, port: int | None = None) -> WorkerProcess:
        env = {**self.env, "LEADSCORE_WEB_PORT": str(port or free_port())}
        worker = WorkerProcess(env, self.logs / f"worker-{len(self.workers)}.log").start()
        self.workers.append(worker)
        worker.wait_ready(timeout=90)
        return worker

    def produce(self, events: Sequence[dict[str, Any]] | None = None) -> None:
        """Publish ``events`` (by default all of the run's) through ``leadscore produce``."""
        path = self.logs / f"events-{self._produced}.jsonl"
        self._produced += 1
        path.write_bytes(jsonl(self.events if events is None else events))
        result = run_cli("produce", str(path), env=self.env)
        assert result.returncode == 0, result.stderr

    def _with_store(self, keys: Keys | None = None) -> tuple[Any, RedisLeadStore]:
        client = connect(self.redis_url, cluster=self.cluster)
        return client, RedisLeadStore(client, keys or Keys(self.prefix), 5, Metrics())

    def checkpoints(self) -> dict[str, int]:
        """Every partition's checkpoint as the worker would rewind to it; raises what Redis does."""

        async def read() -> dict[str, int]:
            client, store = self._with_store()
            try:
                return await store.checkpoints()
            finally:
                await client.aclose()

        return asyncio.run(read())

    def applied(self) -> int:
        """Input records whose effects are checkpointed (offsets start at 0 on fresh topics)."""
        return input_records(self.checkpoints(), self.env["LEADSCORE_TOPIC_PREFIX"])

    def wait_settled(self, timeout: float = 240) -> None:
        """Until the internal topics are checkpointed to their ends: what the last events made
        the worker send itself (touches, summaries) is applied too."""

        async def settle() -> None:
            internal = self.topics.internal
            consumer = AIOKafkaConsumer(
                *internal, bootstrap_servers=self.kafka, enable_auto_commit=False
            )
            client, store = self._with_store()
            await consumer.start()
            try:
                await wait_settled(consumer, internal, store, timeout, poll=0.5)
            finally:
                await consumer.stop()
                await client.aclose()

        asyncio.run(settle())

    def wait_applied(
        self, count: int, timeout: float = 300, exits: tuple[int | None, ...] = (None, -9, -15)
    ) -> None:
        """Until ``count`` records are checkpointed; a worker that ended otherwise than ``exits``
        allows (running, or stopped by the test's SIGKILL or SIGTERM) fails it at once."""
        deadline = time.monotonic() + timeout
        seen: int | str = 0
        while time.monotonic() < deadline:
            try:
                seen = self.applied()
            except _NOT_YET as exc:
                seen = f"no answer from Redis ({type(exc).__name__}: {exc})"
            else:
                if seen >= count:
                    return
            for worker in self.workers:
                assert worker.process is not None
                assert worker.process.poll() in exits, worker.tail()
            time.sleep(0.5)
        tails = "\n---\n".join(w.tail() for w in self.workers)
        raise AssertionError(f"applied {seen} of {count}\n{tails}")

    def _load(self, keys: Keys, ids: set[str]) -> dict[str, StoredLead]:
        async def load() -> dict[str, StoredLead]:
            client, store = self._with_store(keys)
            try:
                return await store.load(sorted(ids))
            finally:
                await client.aclose()

        return asyncio.run(load())

    def stored(self) -> dict[str, StoredLead]:
        """Every lead of the run's events as the workers stored it."""
        return self._load(
            Keys(self.prefix), {e["lead_id"] for e in self.events if e.get("lead_id")}
        )

    def visitors(self, leads: Mapping[str, StoredLead]) -> dict[str, StoredLead]:
        """The events' anonymous visitors, and those the stored ``leads`` were identified as."""
        ids = {e["anonymous_id"] for e in self.events if e.get("anonymous_id")}
        ids |= {a for lead in leads.values() for a in identity.members(lead)}
        return self._load(Keys(self.prefix).visitors, ids)

    def accounts(self) -> dict[str, StoredLead]:
        """Every account the events name, as the workers stored it."""
        ids = {e["account_id"] for e in self.events if e.get("account_id")}
        return self._load(Keys(self.prefix).accounts, ids)

    def alerts(self, topic: str | None = None) -> list[dict[str, Any]]:
        """Everything on ``leads.hot`` (or ``topic``), in order."""
        read = asyncio.run(read_topic(self.kafka, topic or self.topics.hot))
        return [orjson.loads(r.value) for r in read]

    def announced_crossings(self) -> dict[str, int]:
        """Each lead's highest crossing announced on ``leads.hot``."""
        highest: dict[str, int] = {}
        for alert in self.alerts():
            highest[alert["lead_id"]] = max(highest.get(alert["lead_id"], 0), alert["crossing"])
        return highest

    def verify(self, name: str, **facts: Any) -> dict[str, Any]:
        """The checks every fault test ends with (:func:`check_outcome`); the figures, recorded."""
        self.wait_settled()
        stored = self.stored()
        visitors = self.visitors(stored)
        at = datetime.now(UTC)
        figures = {
            "test": name,
            **check_outcome(self.events, stored, self.alerts(), visitors),
            **check_visitors_and_accounts(
                self.events, visitors, self.accounts(), self.alerts(self.topics.accounts_hot), at
            ),
            "leads_checked": len(stored),
            **facts,
        }
        ARTIFACTS.mkdir(exist_ok=True)
        with (ARTIFACTS / "faults.jsonl").open("ab") as out:
            out.write(orjson.dumps(figures) + b"\n")
        return figures

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
