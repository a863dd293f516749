"""Workers join and leave a deployment while events flow: nothing lost, nothing doubled.

Two workers share the input partitions; a third joins while the first half of the events is being
applied, and one of the first two leaves while the second half is. Each change moves partitions
between workers mid-stream; the state and the alerts must still be those of every event applied
exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
import redis as redis_sync

from scoring.simulate import simulate
from tests.support.outcome import check_outcome
from tests.support.worker import (
    WorkerProcess,
    input_records,
    jsonl,
    load_leads,
    read_topic,
    run_cli,
)

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def _applied(redis_url: str, prefix: str) -> int:
    client = redis_sync.Redis.from_url(redis_url)
    try:
        # the worker's test env names topics and keys alike (t-<unique>)
        return input_records(client.hgetall(f"{prefix}:offsets"), f"{prefix}.")
    finally:
        client.close()


def _wait_applied(
    redis_url: str, prefix: str, count: int, workers: list[WorkerProcess], limit: float = 300
) -> None:
    deadline = time.monotonic() + limit
    while _applied(redis_url, prefix) < count:
        for worker in workers:
            assert worker.process is not None and worker.process.poll() in (None, -15)
        assert time.monotonic() < deadline, "\n---\n".join(w.tail() for w in workers)
        time.sleep(0.5)


def test_a_worker_added_and_one_removed_under_load(
    start_worker: Callable[..., WorkerProcess],
    kafka_bootstrap: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    events = simulate(2000, 30, 31, end=datetime.now(UTC) - timedelta(minutes=1)).events
    assert len(events) >= 20_000
    first = start_worker(LEADSCORE_BATCH_SIZE="200")
    second = start_worker(LEADSCORE_BATCH_SIZE="200")
    env = first.env
    prefix = env["LEADSCORE_REDIS_PREFIX"]
    halves = events[: len(events) // 2], events[len(events) // 2 :]
    for n, half in enumerate(halves):
        (tmp_path / f"half-{n}.jsonl").write_bytes(jsonl(half))

    def produce(n: int) -> None:
        done = run_cli("produce", str(tmp_path / f"half-{n}.jsonl"), env=env)
        assert done.returncode == 0, done.stderr

    produce(0)
    _wait_applied(redis_url, prefix, len(halves[0]) // 2, [first, second])
    third = start_worker(LEADSCORE_BATCH_SIZE="200")  # joins mid-stream; waits for its partitions
    produce(1)
    _wait_applied(redis_url, prefix, len(halves[0]) + len(halves[1]) // 3, [first, second, third])
    second.stop()  # leaves while the second half flows
    _wait_applied(redis_url, prefix, len(events), [first, third])

    stored = load_leads(redis_url, prefix, {e["lead_id"] for e in events})
    hot = env["LEADSCORE_TOPIC_PREFIX"] + "leads.hot"
    alerts = [orjson.loads(r.value) for r in asyncio.run(read_topic(kafka_bootstrap, hot))]
    figures = check_outcome(events, stored, alerts)
    assert figures["lost"] == figures["doubled"] == 0
    assert third.handled() > 0  # the new worker took partitions over and read from them
