"""Running the real worker in tests: a ``leadscore worker`` process with its own topics, Redis keys
and port, plus helpers to publish raw messages, read topics and wait for the worker to catch up."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from scoring.engine import evaluate
from scoring.events import Event
from scoring.model import Model
from scoring.offline import score_events
from streams.bench.proc import free_port
from streams.observability.metrics import Metrics
from streams.settings import TopicNames
from streams.state.keys import Keys
from streams.state.record import StoredLead
from streams.state.redis_store import RedisLeadStore, connect
from streams.worker import identity
from streams.worker.processor import score_now

LEADSCORE = str(Path(sys.executable).with_name("leadscore"))


@dataclass
class WorkerProcess:
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _logs: list[Any] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(self.env["LEADSCORE_WEB_PORT"])

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab")
        self._logs.append(log)
        self.process = subprocess.Popen(
            [LEADSCORE, "worker"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """Until the HTTP API answers and the consumer holds partitions."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process and self.process.poll() is None, self.tail()
            try:
                health = orjson.loads(self.get("/healthz"))
                if health.get("assigned_partitions", 0) > 0:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker not ready in {timeout}s\n{self.tail()}")

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
            body: bytes = resp.read()
            return body

    def metric(self, name: str) -> float:
        """Sum of a metric over all its label values."""
        text = self.get("/metrics").decode()
        pattern = rf"^{re.escape(name)}(?:\{{[^}}]*\}})? ([0-9.e+-]+)$"
        return sum(float(m) for m in re.findall(pattern, text, flags=re.MULTILINE))

    def handled(self) -> float:
        """Records the worker has taken in: valid events plus dead letters."""
        return self.metric("leadscore_events_consumed_total") + self.metric(
            "leadscore_events_rejected_total"
        )

    def wait_handled(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        seen = 0.0
        while time.monotonic() < deadline:
            assert self.process and self.process.poll() is None, self.tail()
            try:
                seen = self.handled()
            except OSError:
                seen = 0.0
            if seen >= count:
                return
            time.sleep(0.3)
        raise AssertionError(f"worker handled {seen} of {count} records\n{self.tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def run_cli(
    *args: str, env: dict[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [LEADSCORE, *args], env=env, input=stdin, capture_output=True, timeout=120
    )


def jsonl(events: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


async def publish_raw(bootstrap: str, messages: Sequence[tuple[str, bytes | None, bytes]]) -> None:
    """Send (topic, key, value) as is, bypassing validation: how bad input reaches the worker."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(t, value=v, key=k) for t, k, v in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, idle: float = 2.0) -> list[ConsumerRecord]:
    """Everything on ``topic`` from the beginning, until nothing new arrives for ``idle`` s."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle * 1000), max_records=5000)
            if not batch:
                return records
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()


def worker_env(kafka_bootstrap: str, redis_url: str, unique: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    env.update(
        LEADSCORE_KAFKA_BOOTSTRAP=kafka_bootstrap,
        LEADSCORE_REDIS_URL=redis_url,
        LEADSCORE_APP_ID=f"t-{unique}",
        LEADSCORE_TOPIC_PREFIX=f"t-{unique}.",
        LEADSCORE_REDIS_PREFIX=f"t-{unique}",
        LEADSCORE_WEB_PORT=str(free_port()),
        LEADSCORE_TOPIC_PARTITIONS="4",
        LEADSCORE_LOG_LEVEL="INFO",
    )
    env.update(extra)
    return env


def load_leads(redis_url: str, prefix: str, lead_ids: Iterable[str]) -> dict[str, StoredLead]:
    """The leads as a worker with Redis key prefix ``prefix`` stored them."""

    async def load() -> dict[str, StoredLead]:
        client = connect(redis_url)
        try:
            return await RedisLeadStore(client, Keys(prefix), 5, Metrics()).load(sorted(lead_ids))
        finally:
            await client.aclose()

    return asyncio.run(load())


def scores_in_redis(
    redis_url: str, prefix: str, lead_ids: Iterable[str], model: Model, at: datetime
) -> dict[str, int]:
    """Each stored lead's score under ``model`` as of ``at``; leads never stored are left out."""
    leads = load_leads(redis_url, prefix, lead_ids)
    return {
        lead_id: evaluate(lead.state(model.name), model, at).score
        for lead_id, lead in leads.items()
        if lead.version
    }


def merged_scores_in_redis(
    redis_url: str, prefix: str, lead_ids: Iterable[str], model: Model, at: datetime
) -> dict[str, int]:
    """Each stored lead's score as of ``at`` with the anonymous visitors identified as it
    combined in, as ``GET /leads/{id}`` scores it; leads never stored are left out."""

    async def load() -> dict[str, int]:
        client = connect(redis_url)
        keys = Keys(prefix)
        try:
            stored = await RedisLeadStore(client, keys, 5, Metrics()).load(sorted(lead_ids))
            visitors = RedisLeadStore(client, keys.visitors, 0, Metrics())
            out = {}
            for lead_id, lead in stored.items():
                if lead.version:
                    members = await visitors.load(identity.members(lead))
                    out[lead_id] = score_now(lead, [model], at, members)[0].score
            return out
        finally:
            await client.aclose()

    return asyncio.run(load())


def stored_and_offline(
    redis_url: str, prefix: str, events: Iterable[Event], model: Model, at: datetime
) -> tuple[dict[str, int], dict[str, int]]:
    """Each lead's score from the state a worker stored, and from offline scoring of the same
    events: the two the integration tests hold equal."""
    expected = {s.lead_id: s.score for s in score_events(events, [model], at)}
    return scores_in_redis(redis_url, prefix, expected, model, at), expected


async def remove_deployment(bootstrap: str, redis_url: str, prefix: str) -> None:
    """Delete every topic whose name starts with ``prefix`` and every Redis key under it: a test's
    workers leave nothing behind on a stack that outlives the test run."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()
    client = connect(redis_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.unlink(*keys[start : start + 1000])
    finally:
        await client.aclose()


def input_records(offsets: Mapping[Any, Any], topic_prefix: str) -> int:
    """Of checkpoints (``topic:partition`` -> next offset, as Redis holds them), how many
    records of the input topics they cover: the internal topics' messages (identity links,
    account summaries) are the worker's own and do not count toward the events produced."""
    inputs = TopicNames(topic_prefix).inputs
    total = 0
    for key, value in offsets.items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name.rsplit(":", 1)[0] in inputs:
            total += int(value)
    return total
