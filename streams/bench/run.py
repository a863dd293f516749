"""One benchmark run: generate, preload, measure each phase in turn, clean up whatever happens.

Everything the run creates is named after one random stem (``lsbench-<hex>``): the topics (its
prefix), the consumer groups and Faust's internal topics (the app ids), the Redis keys (the key
prefix) and a temporary directory. Cleanup deletes by that stem, so it removes exactly what this
run made, also after a failure or Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka.admin import NewTopic
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.bench import baselines, data, latency, memory, settle
from streams.bench.e2e import Worker, Workers
from streams.bench.proc import LEADSCORE, Child, child_env
from streams.kafka.clients import kafka_admin, kafka_consumer, kafka_environment
from streams.kafka.topics import ensure_topics
from streams.observability.metrics import Metrics
from streams.settings import Settings
from streams.state.keys import Keys
from streams.state.redis_store import RedisLeadStore, connect


@dataclass(frozen=True, slots=True)
class Options:
    events: int = 200_000
    leads: int = 20_000
    rate: float = 2_000.0
    seconds: float = 15.0
    timeout: float = 900.0  # per phase: a stuck phase fails the run instead of hanging it
    workers: int = 1  # worker processes in the one consumer group


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 4) if a is not None and b else None


class Bench:
    def __init__(self, options: Options, settings: Settings, console: Console) -> None:
        self.options = options
        self.base = settings
        self.console = console
        self.stem = f"lsbench-{uuid.uuid4().hex[:8]}"
        self.settings = settings.model_copy(
            update={
                "topic_prefix": f"{self.stem}.",
                "redis_prefix": self.stem,
                "app_id": f"{self.stem}-worker",
            }
        )
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.stem}-"))
        self.children: list[Child] = []

    def _progress(self) -> Progress:
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )

    def _worker_settings(self) -> dict[str, str]:
        s = self.settings
        pairs = {
            "REDIS_URL": s.redis_url,
            "REDIS_CLUSTER": s.redis_cluster,
            "MODEL": s.model,
            "APP_ID": s.app_id,
            "TOPIC_PREFIX": s.topic_prefix,
            "TOPIC_PARTITIONS": s.topic_partitions,
            "REDIS_PREFIX": s.redis_prefix,
            "MAX_EVENT_BYTES": s.max_event_bytes,
            "BATCH_SIZE": s.batch_size,
            "BATCH_WITHIN": s.batch_within,
            "COOLING_INTERVAL": s.cooling_interval,
            "HISTORY_LENGTH": s.history_length,
            "LEAD_CACHE": s.lead_cache,
            "OUTPUT_COMPRESSION": s.output_compression,
        }
        own = {f"LEADSCORE_{k}": str(v) for k, v in pairs.items()}
        return {**kafka_environment(s), **own}

    async def run(self) -> dict[str, Any]:
        try:
            return await self._run()
        finally:
            for child in self.children:
                child.stop()
            with contextlib.suppress(Exception):
                await asyncio.shield(self.cleanup())

    async def _run(self) -> dict[str, Any]:
        o, s = self.options, self.settings
        topics = s.topics
        roundtrip_topic = f"{s.topic_prefix}bench.roundtrip"
        end = datetime.now(UTC)

        with self._progress() as bar:
            task = bar.add_task("generating events", total=o.events)
            bench_data = data.generate(
                o.events, o.leads, topics, end, lambda n: bar.update(task, completed=n)
            )
            await ensure_topics(s)
            await self._create(roundtrip_topic, s.topic_partitions)
            task = bar.add_task("preloading Kafka", total=o.events)
            await data.preload(s, bench_data.messages, lambda n: bar.update(task, completed=n))

            task = bar.add_task("bare aiokafka consumer", total=o.events)
            raw = await baselines.raw_consume(
                s,
                topics.inputs,
                o.events,
                o.timeout,
                lambda n: bar.update(task, completed=n),
            )
            task = bar.add_task("bare Faust agent", total=o.events)
            bare = await baselines.faust_bare(
                s,
                topics.inputs,
                o.events,
                f"{self.stem}-faust",
                self.workdir,
                s.batch_size,
                s.batch_within,
                o.timeout,
                self.children,
                lambda n: bar.update(task, completed=n),
            )

            redis = connect(s.redis_url, s.redis_cluster)
            try:
                memory_before = await memory.used_memory(redis)
                worker = Workers(
                    [Worker(self._worker_settings(), self.workdir) for _ in range(o.workers)]
                )
                self.children += [w.child for w in worker.members]
                started = time.time()
                for member in worker.members:
                    member.child.start()
                task = bar.add_task("worker catch-up", total=o.events)
                e2e = await worker.wait_handled(
                    o.events, started, o.timeout, lambda n: bar.update(task, completed=n)
                )
                shares = await worker.each_handled()
                store = RedisLeadStore(redis, Keys(s.redis_prefix), 0, Metrics())
                internal = kafka_consumer(s, *topics.internal, enable_auto_commit=False)
                await internal.start()
                try:
                    settled = await settle.wait_settled(internal, topics.internal, store, o.timeout)
                finally:
                    await internal.stop()
                e2e = replace(e2e, last_at=max(e2e.last_at, settled))
                await asyncio.sleep(1.0)  # the last batch's outbox clearing lands
                memory_after = await memory.used_memory(redis)
                keys = Keys(s.redis_prefix)
                per_lead = await memory.bytes_per_lead(redis, keys, bench_data.leads)
            finally:
                await redis.aclose()

            async def caught_up(produced: int) -> bool:
                return await worker.handled() >= o.events + produced

            task = bar.add_task(f"latency at {o.rate:,.0f} ev/s (s)", total=o.seconds)
            lat = await latency.measure(
                s,
                topics,
                roundtrip_topic,
                o.rate,
                o.seconds,
                o.leads,
                caught_up,
                progress=lambda t: bar.update(task, completed=min(t, o.seconds)),
            )
            bar.update(task, completed=o.seconds)
            for member in worker.members:
                member.child.stop()

            task = bar.add_task("offline leadscore score", total=1)
            offline_seconds, startup = self._offline(bench_data.lines, end)
            bar.update(task, completed=1)

        lat_stats = latency.percentiles(lat.scores_ms)
        base_stats = latency.percentiles(lat.roundtrip_ms)
        e2e_eps = e2e.eps
        return {
            "events": o.events,
            "leads": len(bench_data.leads),
            "raw_consume_eps": round(raw.eps, 1),
            "faust_bare_eps": round(bare.eps, 1),
            "e2e_eps": round(e2e_eps, 1),
            "e2e_handled": o.events,
            "e2e_seconds": round(e2e.seconds, 3),
            "e2e_ratio": _ratio(e2e_eps, raw.eps),
            "e2e_vs_faust_bare": _ratio(e2e_eps, bare.eps),
            "workers": o.workers,
            # each worker's records at the end of catch-up, and its rate over the group's window
            "per_worker": [
                {"handled": n, "eps": round(n * e2e_eps / max(sum(shares), 1), 1)} for n in shares
            ],
            "rate": o.rate,
            "latency_seconds": round(lat.seconds, 3),
            "latency_ms": lat_stats,
            "alert_latency_ms": latency.percentiles(lat.alerts_ms),
            "baseline_latency_ms": base_stats,
            "latency_p99_vs_baseline": _ratio(
                lat_stats["p99"] if lat_stats else None, base_stats["p99"] if base_stats else None
            ),
            "latency_samples": {
                "produced": lat.produced,
                "scores": len(lat.scores_ms),
                "alerts": len(lat.alerts_ms),
                "roundtrip": len(lat.roundtrip_ms),
            },
            "offline_eps": round(o.events / offline_seconds, 1),
            "offline_seconds": round(offline_seconds, 3),
            "offline_startup_seconds": round(startup, 3),
            "redis_bytes_per_lead": round(per_lead, 1),
            "redis_used_memory_per_lead": round(
                (memory_after - memory_before) / max(len(bench_data.leads), 1), 1
            ),
            "settings": {
                "topic_partitions": s.topic_partitions,
                "batch_size": s.batch_size,
                "batch_within": s.batch_within,
                "cpus": os.cpu_count(),
            },
        }

    def _offline(self, lines: bytes, end: datetime) -> tuple[float, float]:
        """Wall time of ``leadscore score`` on the data, and of it on an empty file (start-up)."""
        path, empty = self.workdir / "events.jsonl", self.workdir / "empty.jsonl"
        path.write_bytes(lines)
        empty.write_bytes(b"")
        at = end.isoformat().replace("+00:00", "Z")
        env = child_env(**{k: v for k, v in self._worker_settings().items() if k.endswith("MODEL")})
        times = []
        for source in (empty, path):
            started = time.perf_counter()
            subprocess.run(
                [*LEADSCORE, "score", "--at", at, str(source)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                check=True,
                timeout=self.options.timeout,
            )
            times.append(time.perf_counter() - started)
        return times[1], times[0]

    async def _create(self, topic: str, partitions: int) -> None:
        admin = kafka_admin(self.settings)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, partitions, replication_factor=1)])
        finally:
            await admin.close()

    async def cleanup(self) -> None:
        """Delete every topic and Redis key named after the stem, and the temporary directory."""
        try:
            admin = kafka_admin(self.settings)
            await admin.start()
            try:
                mine = [t for t in await admin.list_topics() if t.startswith(self.stem)]
                if mine:
                    await admin.delete_topics(mine)
            finally:
                await admin.close()
        finally:
            redis = connect(self.settings.redis_url, self.settings.redis_cluster)
            try:
                await memory.delete_prefix(redis, self.stem)
            finally:
                await redis.aclose()
                shutil.rmtree(self.workdir, ignore_errors=True)
