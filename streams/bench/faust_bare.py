"""A Faust app that only decodes: the ceiling of Faust's stream machinery on this broker.

Run as ``python -m streams.bench.faust_bare`` by the benchmark, configured by ``BENCH_FAUST_*``
environment variables and reaching Kafka as the benchmark does, through the ``LEADSCORE_KAFKA_*``
ones it passes on. Its agent is shaped like the worker's (same topics, ``take_events`` with the
same batch size and wait, one coroutine) but does nothing with a batch except ``orjson.loads`` each
value, so the gap between it and the worker is the cost of the scoring, Redis and publishing.
When it has seen ``BENCH_FAUST_EVENTS`` records it writes its timings to ``BENCH_FAUST_RESULT``
and idles until the benchmark stops it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import faust
import orjson

from streams.kafka.clients import faust_options
from streams.settings import Settings


def build() -> faust.App:
    env = os.environ
    settings = Settings()  # the Kafka settings the benchmark passed on, the rest defaults
    topics = env["BENCH_FAUST_TOPICS"].split(",")
    total = int(env["BENCH_FAUST_EVENTS"])
    result = Path(env["BENCH_FAUST_RESULT"])
    batch_size = int(env.get("BENCH_FAUST_BATCH_SIZE", "500"))
    within = float(env.get("BENCH_FAUST_BATCH_WITHIN", "0.02"))
    app = faust.App(
        env["BENCH_FAUST_APP_ID"],
        broker=[f"kafka://{s.strip()}" for s in settings.kafka_bootstrap.split(",")],
        store="memory://",
        autodiscover=False,
        web_enabled=False,
        topic_partitions=int(env.get("BENCH_FAUST_PARTITIONS", "8")),
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        **faust_options(settings),
    )
    inputs = app.topic(*topics, key_serializer="raw", value_serializer="raw")
    started = time.time()
    seen = {"count": 0, "first_at": 0.0, "first_count": 0}

    @app.agent(inputs, name="bench-decode", concurrency=1)
    async def decode(stream: faust.StreamT[bytes]) -> None:
        batches = stream.take_events(batch_size, within=within)  # type: ignore[attr-defined]
        async for events in batches:
            for event in events:
                orjson.loads(event.message.value)
            if not seen["count"]:  # as the worker is first seen: with its first batch done
                seen["first_at"], seen["first_count"] = time.time(), len(events)
            before = seen["count"]
            seen["count"] += len(events)
            if before < total <= seen["count"]:
                _write(result, {**seen, "started_at": started, "last_at": time.time()})

    return app


def _write(path: Path, data: dict[str, Any]) -> None:
    """Write then rename, so the benchmark never reads half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(data))
    tmp.replace(path)


def main() -> None:
    from faust.worker import Worker

    Worker(build(), loglevel="warning", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
