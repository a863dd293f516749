"""Faults: nothing lost, nothing doubled.

Each test streams at least 20,000 events over 2,000 leads through a real worker while something
breaks, then checks the outcome against `leadscore score`'s engine run offline on the same events:
every lead's score in Redis equals the offline score, every event is in the state exactly once, no
outbox is left unsent, every crossing a lead made has its alert on `leads.hot`, and an alert sent
more than once always carries the same id.

The traffic has accounts of several contacts and visitors browsing anonymously before they are
identified (`tests/support/accounts.py`), so the same holds through the internal identity and
account topics: every anonymous event is in its visitor's record once, every account scores what
`leadscore score --accounts` gives, and every crossing an account made is on `accounts.hot`.

The tests run on a private stack (own Kafka, own Redis, own ports and data) so that killing and
restarting services disturbs nothing else. The harness (starting workers, waiting for the
checkpoints, the verdict, the figures of each run in `test-artifacts/faults.jsonl`) is
`tests/support/faults.py`, shared with the cluster fault tests.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis as redis_sync

from scoring.simulate import simulate
from streams.bench.proc import free_port
from tests.support.accounts import buying_groups_and_visitors
from tests.support.faults import FaultRun
from tests.support.paths import STACK
from tests.support.worker import run_cli, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.faults]


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


@pytest.fixture
def run(stack: PrivateStack, unique: str, tmp_path: Path) -> Iterator[Callable[..., FaultRun]]:
    made: list[FaultRun] = []

    def make(leads: int = 2000, seed: int = 23, **settings: str) -> FaultRun:
        world = simulate(leads, 30, seed, end=datetime.now(UTC) - timedelta(minutes=1))
        assert len(world.events) >= 20_000 or leads < 2000
        env = worker_env(
            stack.kafka_bootstrap,
            stack.redis_url,
            unique,
            LEADSCORE_BATCH_SIZE="200",
            **settings,
        )
        events = buying_groups_and_visitors(world.events, seed)
        scenario = FaultRun(stack.kafka_bootstrap, stack.redis_url, env, events, tmp_path)
        made.append(scenario)
        return scenario

    yield make
    for scenario in made:
        scenario.stop()


def test_worker_killed_three_times(run: Callable[..., FaultRun]) -> None:
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
    scenario.verify("worker_killed_three_times", kills=[round(m, 2) for m in moments])


def test_two_workers_one_killed_mid_stream(run: Callable[..., FaultRun]) -> None:
    scenario = run()
    first = scenario.worker()
    second = scenario.worker()
    scenario.produce()
    total = len(scenario.events)
    scenario.wait_applied(total // 3)
    second.stop(signal.SIGKILL)
    scenario.wait_applied(total)
    assert first.process is not None and first.process.poll() is None
    scenario.verify("two_workers_one_killed")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["clean", "sigkill"])
def test_redis_restarted_mid_stream(
    stack: PrivateStack, run: Callable[..., FaultRun], sig: int
) -> None:
    # the cooling timer runs often, so it is likely to meet Redis while it is still loading (it
    # once stopped the worker there: an error escaping a timer ends a Faust app)
    scenario = run(LEADSCORE_COOLING_INTERVAL="0.1")
    worker = scenario.worker()
    scenario.produce()
    total = len(scenario.events)
    scenario.wait_applied(total // 3)
    stack.restart("redis", sig)
    scenario.wait_applied(total)
    assert worker.process is not None and worker.process.poll() is None, worker.tail()
    scenario.verify(
        f"redis_restarted_{signal.Signals(sig).name}",
        rewinds=worker.metric("leadscore_rewinds_total"),
    )


def test_kafka_broker_restarted_mid_stream(
    stack: PrivateStack, run: Callable[..., FaultRun]
) -> None:
    scenario = run()
    worker = scenario.worker()
    scenario.produce()
    total = len(scenario.events)
    scenario.wait_applied(total // 3)
    stack.restart("kafka", signal.SIGTERM)
    scenario.wait_applied(total)
    assert worker.process is not None and worker.process.poll() is None, worker.tail()
    scenario.verify("kafka_restarted")


def test_rebuild_restores_state_after_flushall(run: Callable[..., FaultRun]) -> None:
    scenario = run()
    worker = scenario.worker()
    scenario.produce()
    scenario.wait_applied(len(scenario.events))
    scenario.wait_settled()  # what the last events sent to the internal topics, applied too
    worker.stop()
    before = scenario.verify("before_flushall")
    client = redis_sync.Redis.from_url(scenario.redis_url)
    client.flushall()
    assert client.dbsize() == 0
    client.close()
    result = run_cli("rebuild", env=scenario.env)
    assert result.returncode == 0, result.stderr
    assert f"{len(scenario.events)} events applied" in result.stdout.decode()
    after = scenario.verify("rebuild_after_flushall")
    assert after["leads_checked"] == before["leads_checked"]

    # The hysteresis memory is what was announced, so no later alert can reuse an old id.
    announced: dict[str, tuple[int, bool]] = {}
    for alert in scenario.alerts():
        announced[alert["lead_id"]] = (alert["crossing"], alert["kind"] == "hot")

    leads = scenario.stored()
    restored = {k: (v.state("default").crossings, v.state("default").hot) for k, v in leads.items()}
    assert {k: v for k, v in restored.items() if v != (0, False)} == announced


def test_writes_redis_lost_are_replayed_from_the_checkpoints(
    stack: PrivateStack, run: Callable[..., FaultRun]
) -> None:
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
    # Idle first: the loss below is made by hand, not in Redis's order, so a batch still applying
    # what the last events sent the worker itself (touches, summaries) could move a checkpoint
    # back up past the loss, a state no crash makes.
    scenario.wait_settled()
    time.sleep(2)  # let the worker commit its offsets to Kafka too

    client = redis_sync.Redis.from_url(scenario.redis_url)
    prefix = scenario.prefix
    leads = list(client.scan_iter(match=f"{prefix}:lead:*", count=1000))
    client.delete(*leads)
    offsets = client.hgetall(f"{prefix}:offsets")
    client.hset(f"{prefix}:offsets", mapping=dict.fromkeys(offsets, 0))
    client.close()
    stack.restart("redis", signal.SIGTERM, down_for=0.5)  # clean stop: keeps the loss

    scenario.wait_applied(len(scenario.events))
    assert worker.metric("leadscore_rewinds_total") >= 1
    assert worker.process is not None and worker.process.poll() is None, worker.tail()
    # After the replay no lead may count fewer crossings than were announced, or its next alert
    # would reuse the id of one already sent. The catch-up follows the replay, so wait for it.
    announced = scenario.announced_crossings()
    deadline = time.monotonic() + 30
    while True:
        stored = scenario.stored()
        behind = {
            k: (stored[k].state("default").crossings, n)
            for k, n in announced.items()
            if stored[k].state("default").crossings < n
        }
        if not behind or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert not behind, f"leads behind what was announced: {behind}"
    scenario.verify("redis_lost_writes_replayed", rewinds=worker.metric("leadscore_rewinds_total"))
