"""Faults: nothing lost, nothing doubled.

Each test streams at least 20,000 events over 2,000 leads through a real worker while something
breaks, then checks the outcome against `leadscore score`'s engine run offline on the same events:
every lead's score in Redis equals the offline score, every event is in the state exactly once, no
outbox is left unsent, every crossing a lead made has its alert on `leads.hot`, and an alert sent
more than once always carries the same id.

The traffic has accounts of several contacts and visitors browsing anonymously before they are
identified (tests/support/accounts.py), so the same holds for the internal identity and account
topics: every anonymous event is in its visitor's record once, every account scores what
`leadscore score --accounts` gives, and every crossing an account made is on `accounts.hot`.

The tests run on a private stack (own Kafka, own Redis, own ports and data) so that killing and
restarting services disturbs nothing else. Figures of each run are written to
`test-artifacts/faults.jsonl` for the record.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis as redis_sync
from aiokafka import AIOKafkaConsumer, TopicPartition

from scoring.events import parse_event
from scoring.offline import score_events
from scoring.simulate import simulate
from streams.kafka.messages import transition_id
from streams.modelfile import load_models
from streams.settings import TopicNames
from streams.state.keys import Keys
from streams.worker import identity
from streams.worker.processor import score_now
from tests.support.accounts import buying_groups_and_visitors
from tests.support.outcome import check_visitors_and_accounts
from tests.support.paths import ROOT, STACK
from tests.support.worker import (
    WorkerProcess,
    free_port,
    jsonl,
    load_leads,
    read_topic,
    run_cli,
    worker_env,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]

ARTIFACTS = ROOT / "test-artifacts"


@dataclass
class PrivateStack:
    env: dict[str, str]
    root: Path

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.env['LEADSCORE_KAFKA_PORT']}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.env['LEADSCORE_REDIS_PORT']}/0"

    def ops(self, *args: str) -> None:
        result = subprocess.run([str(STACK), *args], env=self.env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr

    def _pid(self, service: str) -> int:
        return int((self.root / service / f"{service}.pid").read_text())

    def restart(self, service: str, sig: int, down_for: float = 2.0) -> None:
        """Stop one service with ``sig``, keep it down a moment, bring it back with its data."""
        pid = self._pid(service)
        os.kill(pid, sig)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        time.sleep(down_for)
        self.ops("up")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    root = tmp_path_factory.mktemp("fault-stack")
    env = {
        **os.environ,
        "LEADSCORE_STACK_DIR": str(root),
        "LEADSCORE_KAFKA_PORT": str(free_port()),
        "LEADSCORE_KAFKA_CONTROLLER_PORT": str(free_port()),
        "LEADSCORE_REDIS_PORT": str(free_port()),
        "LEADSCORE_KAFKA_HEAP": "384m",
    }
    private = PrivateStack(env, root)
    private.ops("up")
    try:
        yield private
    finally:
        subprocess.run([str(STACK), "down"], env=env, capture_output=True)


@dataclass
class Run:
    """One fault scenario: its events, settings and workers."""

    stack: PrivateStack
    env: dict[str, str]
    events: list[dict[str, Any]]
    logs: Path
    workers: list[WorkerProcess]

    def worker(self, port: int | None = None) -> WorkerProcess:
        env = {**self.env, "LEADSCORE_WEB_PORT": str(port or free_port())}
        worker = WorkerProcess(env, self.logs / f"worker-{len(self.workers)}.log").start()
        self.workers.append(worker)
        worker.wait_ready(timeout=90)
        return worker

    def produce(self) -> None:
        path = self.logs / "events.jsonl"
        path.write_bytes(jsonl(self.events))
        result = run_cli("produce", str(path), env=self.env)
        assert result.returncode == 0, result.stderr

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.env["LEADSCORE_TOPIC_PREFIX"])

    def checkpoints(self) -> dict[str, int]:
        """``topic:partition`` -> next offset, as checkpointed in Redis."""
        client = redis_sync.Redis.from_url(self.stack.redis_url)
        try:
            offsets = client.hgetall(f"{self.env['LEADSCORE_REDIS_PREFIX']}:offsets")
        except redis_sync.ConnectionError:
            return {}
        finally:
            client.close()
        return {k.decode(): int(v) for k, v in offsets.items()}

    def applied(self) -> int:
        """Input records whose effects are checkpointed in Redis (offsets start at 0 on fresh
        topics); the internal topics' messages are not counted."""
        inputs = self.topics.inputs
        return sum(n for key, n in self.checkpoints().items() if key.rsplit(":", 1)[0] in inputs)

    def wait_settled(self, timeout: float = 240) -> None:
        """Wait until the internal topics are checkpointed to their ends, twice in a row: the
        messages the last events caused (touches, summaries) have been applied too."""

        async def ends() -> dict[str, int]:
            internal = self.topics.internal
            consumer = AIOKafkaConsumer(
                *internal, bootstrap_servers=self.stack.kafka_bootstrap, enable_auto_commit=False
            )
            await consumer.start()
            try:
                parts = [
                    TopicPartition(t, p)
                    for t in internal
                    for p in consumer.partitions_for_topic(t) or ()
                ]
                found = await consumer.end_offsets(parts) if parts else {}
            finally:
                await consumer.stop()
            return {f"{tp.topic}:{tp.partition}": n for tp, n in found.items() if n}

        deadline = time.monotonic() + timeout
        calm = 0
        while calm < 2:
            wanted, held = asyncio.run(ends()), self.checkpoints()
            calm = calm + 1 if all(held.get(k, 0) >= n for k, n in wanted.items()) else 0
            assert time.monotonic() < deadline, f"internal topics not applied: {wanted} {held}"
            time.sleep(1)

    def wait_applied(self, count: int, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.applied() >= count:
                return
            for worker in self.workers:
                if worker.process and worker.process.poll() not in (None, -9, -15):
                    raise AssertionError(worker.tail())
            time.sleep(0.5)
        tails = "\n---\n".join(w.tail() for w in self.workers)
        raise AssertionError(f"applied {self.applied()} of {count}\n{tails}")

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


@pytest.fixture
def run(stack: PrivateStack, unique: str, tmp_path: Path) -> Iterator[Callable[..., Run]]:
    made: list[Run] = []

    def make(leads: int = 2000, seed: int = 23, **settings: str) -> Run:
        world = simulate(leads, 30, seed, end=datetime.now(UTC) - timedelta(minutes=1))
        assert len(world.events) >= 20_000 or leads < 2000
        events = buying_groups_and_visitors(world.events, seed)
        env = worker_env(
            stack.kafka_bootstrap,
            stack.redis_url,
            unique,
            LEADSCORE_BATCH_SIZE="200",
            **settings,
        )
        scenario = Run(stack, env, events, tmp_path, [])
        made.append(scenario)
        return scenario

    yield make
    for scenario in made:
        scenario.stop()


def verify(scenario: Run, name: str, **facts: Any) -> dict[str, Any]:
    """The checks every fault test ends with; returns the figures for the record."""
    scenario.wait_settled()
    at = datetime.now(UTC)
    models = load_models(None)
    model = models[0]
    events = scenario.events
    expected = {s.lead_id: s for s in score_events((parse_event(e) for e in events), models, at)}
    unique_events: Counter[str] = Counter(
        e["lead_id"] for e in {e["event_id"]: e for e in events}.values() if e.get("lead_id")
    )

    url, prefix = scenario.stack.redis_url, scenario.env["LEADSCORE_REDIS_PREFIX"]
    stored = load_leads(url, prefix, expected)
    anonymous_ids = {e["anonymous_id"] for e in events if e.get("anonymous_id")}
    anonymous_ids |= {a for v in stored.values() for a in identity.members(v)}
    visitors = load_leads(url, Keys(prefix).visitors.prefix, anonymous_ids)
    accounts = load_leads(
        url, Keys(prefix).accounts.prefix, {e["account_id"] for e in events if e.get("account_id")}
    )
    scores = {
        k: score_now(v, models, at, {a: visitors[a] for a in identity.members(v)})[0].score
        for k, v in stored.items()
    }
    wrong = {k: (scores[k], s.score) for k, s in expected.items() if scores[k] != s.score}
    assert not wrong, (
        f"{len(wrong)} leads differ from the offline result, e.g. {list(wrong.items())[:5]}"
    )
    lost = {
        k: (len(v.state(model.name).seen), unique_events[k])
        for k, v in stored.items()
        if len(v.state(model.name).seen) != unique_events[k]
    }
    assert not lost, f"events missing or doubled in state: {list(lost.items())[:5]}"
    assert not [k for k, v in stored.items() if v.outbox], "unsent outboxes remain"

    hot_topic = scenario.env["LEADSCORE_TOPIC_PREFIX"] + "leads.hot"
    alerts = [
        orjson.loads(r.value)
        for r in asyncio.run(read_topic(scenario.stack.kafka_bootstrap, hot_topic))
    ]
    ids_by_transition: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    for alert in alerts:
        ids_by_transition[(alert["lead_id"], alert["kind"], alert["crossing"])].add(
            alert["alert_id"]
        )
    assert all(len(ids) == 1 for ids in ids_by_transition.values()), "a repeated alert got a new id"
    expected_alerts = {
        transition_id(lead, model.name, "hot", n)
        for lead, state in ((k, v.state(model.name)) for k, v in stored.items())
        for n in range(1, state.crossings + 1)
    }
    sent = {a["alert_id"] for a in alerts if a["kind"] == "hot"}
    assert expected_alerts <= sent, f"{len(expected_alerts - sent)} alerts never reached leads.hot"
    repeats = len(alerts) - len({a["alert_id"] for a in alerts})
    account_alerts = [
        orjson.loads(r.value)
        for r in asyncio.run(
            read_topic(scenario.stack.kafka_bootstrap, scenario.topics.accounts_hot)
        )
    ]
    merged = check_visitors_and_accounts(events, visitors, accounts, account_alerts, at)
    figures = {
        "test": name,
        "events": len(events),
        "leads": len(expected),
        "leads_checked": len(scores),
        "hot_alerts_expected": len(expected_alerts),
        "hot_alerts_on_topic": len(sent),
        "messages_on_leads_hot": len(alerts),
        "repeated_with_same_id": repeats,
        "lost": 0,
        "doubled": 0,
        **merged,
        **facts,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    with (ARTIFACTS / "faults.jsonl").open("ab") as out:
        out.write(orjson.dumps(figures) + b"\n")
    return figures


def test_worker_killed_three_times(run: Callable[..., Run]) -> None:
    scenario = run()
    scenario.produce()
    total = len(scenario.events)
    rng = random.Random(5)
    moments = sorted(rng.uniform(0.1, 0.9) for _ in range(3))
    for fraction in moments:
        worker = scenario.worker()
        scenario.wait_applied(int(total * fraction))
        worker.stop(signal.SIGKILL)
    scenario.worker()
    scenario.wait_applied(total)
    verify(scenario, "worker_killed_three_times", kills=[round(m, 2) for m in moments])


def test_two_workers_one_killed_mid_stream(run: Callable[..., Run]) -> None:
    scenario = run()
    first = scenario.worker()
    second = scenario.worker()
    scenario.produce()
    total = len(scenario.events)
    scenario.wait_applied(total // 3)
    second.stop(signal.SIGKILL)
    scenario.wait_applied(total)
    assert first.process is not None and first.process.poll() is None
    verify(scenario, "two_workers_one_killed")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["clean", "sigkill"])
def test_redis_restarted_mid_stream(run: Callable[..., Run], sig: int) -> None:
    # the cooling timer runs often, so it is likely to meet Redis while it is still loading (it
    # once stopped the worker there: an error escaping a timer ends a Faust app)
    scenario = run(LEADSCORE_COOLING_INTERVAL="0.1")
    worker = scenario.worker()
    scenario.produce()
    total = len(scenario.events)
    scenario.wait_applied(total // 3)
    scenario.stack.restart("redis", sig)
    scenario.wait_applied(total)
    assert worker.process is not None and worker.process.poll() is None, worker.tail()
    verify(
        scenario,
        f"redis_restarted_{signal.Signals(sig).name}",
        rewinds=worker.metric("leadscore_rewinds_total"),
    )


def test_kafka_broker_restarted_mid_stream(run: Callable[..., Run]) -> None:
    scenario = run()
    worker = scenario.worker()
    scenario.produce()
    total = len(scenario.events)
    scenario.wait_applied(total // 3)
    scenario.stack.restart("kafka", signal.SIGTERM)
    scenario.wait_applied(total)
    assert worker.process is not None and worker.process.poll() is None, worker.tail()
    verify(scenario, "kafka_restarted")


def test_rebuild_restores_state_after_flushall(run: Callable[..., Run]) -> None:
    scenario = run()
    worker = scenario.worker()
    scenario.produce()
    scenario.wait_applied(len(scenario.events))
    scenario.wait_settled()  # what the last events sent to the internal topics, applied too
    worker.stop()
    before = verify(scenario, "before_flushall")
    client = redis_sync.Redis.from_url(scenario.stack.redis_url)
    client.flushall()
    assert client.dbsize() == 0
    client.close()
    result = run_cli("rebuild", env=scenario.env)
    assert result.returncode == 0, result.stderr
    assert f"{len(scenario.events)} events applied" in result.stdout.decode()
    after = verify(scenario, "rebuild_after_flushall")
    assert after["leads_checked"] == before["leads_checked"]

    # The hysteresis memory is what was announced, so no later alert can reuse an old id.
    hot_topic = scenario.env["LEADSCORE_TOPIC_PREFIX"] + "leads.hot"
    announced: dict[str, tuple[int, bool]] = {}
    for message in asyncio.run(read_topic(scenario.stack.kafka_bootstrap, hot_topic)):
        alert = orjson.loads(message.value)
        announced[alert["lead_id"]] = (alert["crossing"], alert["kind"] == "hot")

    leads = load_leads(
        scenario.stack.redis_url,
        scenario.env["LEADSCORE_REDIS_PREFIX"],
        {e["lead_id"] for e in scenario.events if e.get("lead_id")},
    )
    restored = {k: (v.state("default").crossings, v.state("default").hot) for k, v in leads.items()}
    assert {k: v for k, v in restored.items() if v != (0, False)} == announced


def test_writes_redis_lost_are_replayed_from_the_checkpoints(run: Callable[..., Run]) -> None:
    """Deterministic form of a Redis crash that lost writes Kafka already counts as consumed.

    The worker has applied and committed everything. Then Redis "forgets": every lead is gone and
    the checkpoints are back at the start, as after a crash that lost those writes. Redis restarts
    (a new run id); the worker must notice, rewind to the checkpoints and restore every lead, even
    though Kafka's committed offsets say there is nothing left to read.
    """
    scenario = run()
    worker = scenario.worker()
    scenario.produce()
    scenario.wait_applied(len(scenario.events))
    time.sleep(2)  # let the worker commit its offsets to Kafka too

    client = redis_sync.Redis.from_url(scenario.stack.redis_url)
    prefix = scenario.env["LEADSCORE_REDIS_PREFIX"]
    leads = list(client.scan_iter(match=f"{prefix}:lead:*", count=1000))
    client.delete(*leads)
    offsets = client.hgetall(f"{prefix}:offsets")
    client.hset(f"{prefix}:offsets", mapping=dict.fromkeys(offsets, 0))
    client.close()
    scenario.stack.restart("redis", signal.SIGTERM, down_for=0.5)  # clean stop: keeps the loss

    scenario.wait_applied(len(scenario.events))
    assert worker.metric("leadscore_rewinds_total") >= 1
    assert worker.process is not None and worker.process.poll() is None, worker.tail()
    verify(scenario, "redis_lost_writes_replayed", rewinds=worker.metric("leadscore_rewinds_total"))
    # After the replay no lead may count fewer crossings than were announced, or its next alert
    # would reuse the id of one already sent.
    announced = announced_crossings(scenario)
    deadline = time.monotonic() + 30
    while True:
        leads = load_leads(scenario.stack.redis_url, prefix, announced)
        behind = {
            k: (v.state("default").crossings, announced[k])
            for k, v in leads.items()
            if v.state("default").crossings < announced[k]
        }
        if not behind or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not behind, f"leads behind what was announced: {behind}"


def announced_crossings(scenario: Run) -> dict[str, int]:
    hot_topic = scenario.env["LEADSCORE_TOPIC_PREFIX"] + "leads.hot"
    highest: dict[str, int] = {}
    for message in asyncio.run(read_topic(scenario.stack.kafka_bootstrap, hot_topic)):
        alert = orjson.loads(message.value)
        highest[alert["lead_id"]] = max(highest.get(alert["lead_id"], 0), alert["crossing"])
    return highest
