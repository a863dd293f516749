"""``leadscore bench`` on a small run: every figure present and sane, and nothing left behind.

Benchmarks are not timed tests; this checks that the command works end to end (CI runs it once on
a small N), never how fast anything is.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import orjson
import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient

pytestmark = pytest.mark.integration

LEADSCORE = [sys.executable, "-c", "from streams.cli import main; main()"]
SMALL = ["--events", "2000", "--leads", "200", "--rate", "200", "--seconds", "3", "--json"]
KEYS = (
    "events",
    "raw_consume_eps",
    "e2e_eps",
    "e2e_ratio",
    "latency_ms",
    "baseline_latency_ms",
    "offline_eps",
    "redis_bytes_per_lead",
    "faust_bare_eps",
    "e2e_vs_faust_bare",
)


async def _bench_topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return [t for t in await admin.list_topics() if t.startswith("lsbench-")]
    finally:
        await admin.close()


def _bench_keys(url: str) -> set[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return set(client.scan_iter(match="lsbench-*", count=1000))
    finally:
        client.close()


def test_small_bench_reports_every_figure_and_cleans_up(
    kafka_bootstrap: str, redis_url: str
) -> None:
    # Other runs of the benchmark may share the services: compare against what was there before.
    topics_before = set(asyncio.run(_bench_topics(kafka_bootstrap)))
    keys_before = _bench_keys(redis_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    env.update(LEADSCORE_KAFKA_BOOTSTRAP=kafka_bootstrap, LEADSCORE_REDIS_URL=redis_url)
    done = subprocess.run(
        [*LEADSCORE, "bench", *SMALL],
        env=env,
        capture_output=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-4000:]
    result: dict[str, Any] = orjson.loads(done.stdout)

    for key in KEYS:
        assert key in result, key
    assert result["events"] == 2000
    assert result["e2e_handled"] == 2000  # the worker took in every record of the backlog
    assert result["workers"] == 1 and [w["handled"] for w in result["per_worker"]] == [2000]
    for key in ("raw_consume_eps", "faust_bare_eps", "e2e_eps", "offline_eps"):
        assert result[key] > 0, key
    for key in ("e2e_ratio", "e2e_vs_faust_bare", "redis_bytes_per_lead"):
        assert result[key] > 0, key
    for key in ("latency_ms", "baseline_latency_ms"):
        stats = result[key]
        assert stats is not None, key
        assert 0 <= stats["p50"] <= stats["p95"] <= stats["p99"] <= stats["max"], (key, stats)
    samples = result["latency_samples"]
    assert samples["produced"] > 0
    assert 0 < samples["scores"] <= samples["produced"]
    assert samples["roundtrip"] == samples["produced"]

    # a deleted topic leaves the broker's metadata a moment after the controller accepted it
    deadline = time.monotonic() + 15
    while not set(asyncio.run(_bench_topics(kafka_bootstrap))) <= topics_before:
        assert time.monotonic() < deadline, "the benchmark left topics behind"
        time.sleep(0.3)
    assert _bench_keys(redis_url) <= keys_before


def test_bench_with_two_workers_reports_each_beside_the_total(
    kafka_bootstrap: str, redis_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    env.update(LEADSCORE_KAFKA_BOOTSTRAP=kafka_bootstrap, LEADSCORE_REDIS_URL=redis_url)
    done = subprocess.run(
        [*LEADSCORE, "bench", *SMALL, "--workers", "2"], env=env, capture_output=True, timeout=280
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-4000:]
    result: dict[str, Any] = orjson.loads(done.stdout)
    for key in KEYS:
        assert key in result, key
    assert result["workers"] == 2 and result["e2e_handled"] == 2000
    each = result["per_worker"]
    assert len(each) == 2
    assert sum(w["handled"] for w in each) >= 2000  # a record may be read twice in a rebalance
    assert sum(w["eps"] for w in each) == pytest.approx(result["e2e_eps"], rel=0.01)
