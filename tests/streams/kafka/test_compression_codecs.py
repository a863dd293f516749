"""Kafka's compression codecs, with Kafka's own Java tools on the other side of the wire.

Producers leadscore did not write choose their codec; the Java console producer stands in for them.
A batch the worker cannot decompress stops it at that offset, and every restart stops again, so each
codec a Kafka producer can use must be readable (issue 11).

The worker's own outputs are compressed with ``LEADSCORE_OUTPUT_COMPRESSION``; Kafka's log dump
tool, reading the broker's segment files, says which codec a batch really carries.

The Java tools come from the jars ``ops/stack`` resolves, found the way it finds them.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from scoring.events import EventType, parse_event
from scoring.simulate import simulate
from streams.kafka.messages import Channel, OutMessage
from streams.kafka.publisher import Publisher
from streams.kafka.topics import topic_for
from streams.modelfile import load_models
from streams.settings import Settings, TopicNames
from tests.support.worker import WorkerProcess, remove_deployment, stored_and_offline

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")
KEY_SEPARATOR = "\t"  # orjson escapes tabs inside strings, so none occurs in an event or lead id


def kafka_lib() -> Path:
    """The directory of Kafka's jars, as ``ops/stack`` names it; skips when it is not there."""
    cache = os.environ.get("LEADSCORE_JAR_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "leadscore" / "kafka"
    )
    version = os.environ.get("LEADSCORE_KAFKA_VERSION") or "3.9.1"
    lib = Path(cache) / version / "lib"
    if not (lib / ".complete").is_file() or shutil.which("java") is None:
        pytest.skip(f"needs java and Kafka's jars in {lib} (ops/stack up resolves them)")
    return lib


def broker_log_dir() -> Path:
    """The broker's ``log.dirs`` as ``ops/stack`` sets it up; skips when there is none here."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    stack = os.environ.get("LEADSCORE_STACK_DIR") or str(Path(state) / "leadscore" / "stack")
    data = Path(stack) / "kafka" / "data"
    if not data.is_dir():
        pytest.skip(f"needs the broker's log files, which ops/stack keeps in {data}")
    return data


def kafka_tool(lib: Path, main: str, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["java", "-Xmx256m", "-cp", f"{lib}/*", main, *args],
        input=stdin,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done.stdout.decode()


@pytest.mark.parametrize("codec", CODECS)
def test_events_a_java_producer_compressed_are_scored(
    codec: str,
    start_worker: Callable[..., WorkerProcess],
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    lib = kafka_lib()
    now = datetime.now(UTC)
    worker = start_worker()
    topics = TopicNames(worker.env["LEADSCORE_TOPIC_PREFIX"])
    # One topic's events, so one console producer (a JVM start) per codec; the emails topic
    # carries three event types over most of the leads.
    events = [
        e
        for e in simulate(150, 10, seed=11, end=now - timedelta(minutes=1)).events
        if topic_for(EventType(e["type"]), topics) == topics.emails
    ]
    lines = b"".join(
        e["lead_id"].encode() + KEY_SEPARATOR.encode() + orjson.dumps(e) + b"\n" for e in events
    )
    kafka_tool(
        lib,
        "kafka.tools.ConsoleProducer",
        *("--bootstrap-server", kafka_bootstrap, "--topic", topics.emails),
        *("--compression-codec", codec),
        *("--property", "parse.key=true", "--property", f"key.separator={KEY_SEPARATOR}"),
        stdin=lines,
    )
    worker.wait_handled(len(events), timeout=120)

    assert worker.metric("leadscore_events_consumed_total") == len(events)
    at = datetime.now(UTC)
    models = load_models(None)
    prefix = worker.env["LEADSCORE_REDIS_PREFIX"]
    stored, expected = stored_and_offline(
        redis_url, prefix, (parse_event(e) for e in events), models[0], at
    )
    assert len(expected) > 50
    assert stored == expected
    assert worker.process is not None and worker.process.poll() is None


def codecs_in_segments(lib: Path, segments: list[Path]) -> dict[Path, set[str]]:
    """The ``compresscodec`` of every batch in each segment file, as Kafka's own dump reads it."""
    found: dict[Path, set[str]] = {path: set() for path in segments}
    current: Path | None = None
    dump = kafka_tool(
        lib, "kafka.tools.DumpLogSegments", "--files", ",".join(str(p) for p in segments)
    )
    for line in dump.splitlines():
        if line.startswith("Dumping "):
            current = Path(line.removeprefix("Dumping ").strip())
        elif (codec := re.search(r"\bcompresscodec: (\w+)", line)) and current is not None:
            found[current].add(codec.group(1).lower())
    return found


def test_outputs_carry_the_configured_codec(
    kafka_bootstrap: str, redis_url: str, unique: str
) -> None:
    lib, data = kafka_lib(), broker_log_dir()
    stem = f"t-{unique}"
    codecs = ("none", *CODECS)
    change = {"lead_id": "", "model": "default", "score": 42, "previous": 37, "grade": "B2"}

    async def publish() -> None:
        for codec in codecs:
            settings = Settings(
                kafka_bootstrap=kafka_bootstrap,
                topic_prefix=f"{stem}-{codec}.",
                output_compression=codec,
            )
            messages = [
                OutMessage(Channel.SCORES, key, orjson.dumps({**change, "lead_id": key.decode()}))
                for key in (f"lead-{i:04d}".encode() for i in range(300))
            ]
            async with Publisher(settings) as publisher:
                await publisher.send(messages)

    try:
        asyncio.run(publish())
        segments = {
            codec: sorted(data.glob(f"{stem}-{codec}.leads.scores-*/*.log")) for codec in codecs
        }
        if not all(segments.values()):
            pytest.skip(
                f"the broker at {kafka_bootstrap} keeps its log files elsewhere than {data}"
            )
        found = codecs_in_segments(lib, [p for paths in segments.values() for p in paths])
        seen = {codec: set[str]().union(*(found[p] for p in segments[codec])) for codec in codecs}
        assert seen == {codec: {codec} for codec in codecs}
    finally:
        asyncio.run(remove_deployment(kafka_bootstrap, redis_url, stem))
