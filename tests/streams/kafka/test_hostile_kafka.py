"""Hostile messages on every input topic of a real worker: none may stop or stall it.

Each case was found by a probe of a running worker (issue 11) or is a neighbour of one. After each,
the same worker process is alive, a fresh valid event is scored, and at the end the dead-letter
topic holds exactly one letter per refused message and the log holds neither the API token nor
any e-mail address that was sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import signal
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.settings import TopicNames
from tests.support.http import request
from tests.support.worker import WorkerProcess, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.faults]

StartWorker = Callable[..., WorkerProcess]
EMAIL = "hostile.person@example.org"


def _event(lead_id: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "lead_id": lead_id,
        "type": "page_view",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "properties": {"path": "/pricing", "email": EMAIL},
        **fields,
    }


def _poison(token: str) -> list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]:
    """(name, key, value, headers) of each hostile message; every one must be dead-lettered."""
    deep = b"[" * 256 + b"]" * 256

    def at(stamp: str) -> bytes:
        return orjson.dumps(_event("p", "p-" + stamp, occurred_at=stamp))

    return [
        ("overflowing time", None, at("9999-12-31T20:00:00-05:00"), []),
        ("time before year 1 in UTC", None, at("0001-01-01T00:00:00+01:00"), []),
        ("ISO week date", None, at("2026-W49-2T10:00:00Z"), []),
        ("trailing dot", None, at("2026-11-30T10:00:00.Z"), []),
        ("near 1 MiB", b"big", b'{"lead_id":"' + b"x" * 1_048_400 + b'"}', []),
        ("deep event_id", None, orjson.dumps(_event("p", "x")).replace(b'"x"', deep), []),
        ("deep body", None, b"[" * 5000 + b"]" * 5000, []),
        ("invalid UTF-8", None, b'{"event_id":"\xff\xfe"}', []),
        ("empty", b"k", b"", []),
        ("huge key", b"k" * 200_000, orjson.dumps({"secret": token, "email": EMAIL}), []),
        ("oversized headers", None, b"{}", [("h", b"x" * 300_000), ("t", token.encode())]),
        ("token and e-mail", EMAIL.encode(), f'{{"token":"{token}","email":"{EMAIL}"'.encode(), []),
    ]  # fmt: skip


async def _publish(
    bootstrap: str, messages: Sequence[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for topic, key, value, headers in messages:
            await (await producer.send(topic, value=value, key=key, headers=headers or None))
    finally:
        await producer.stop()


def _scored(worker: WorkerProcess, lead_id: str, token: str, path: str | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, body = request(worker, "GET", path or f"/leads/{lead_id}", token=token)
        if status == 200:
            assert orjson.loads(body)["lead_id"] == lead_id
            return
        time.sleep(0.3)
    raise AssertionError(f"{lead_id} was never scored\n{worker.tail()}")


def test_no_message_on_any_input_topic_stops_the_worker(
    start_worker: StartWorker, kafka_bootstrap: str
) -> None:
    token = secrets.token_urlsafe(24)
    worker = start_worker(LEADSCORE_API_TOKEN=token, LEADSCORE_MAX_EVENT_BYTES="65536")
    assert worker.process is not None
    pid = worker.process.pid
    topics = TopicNames(worker.env["LEADSCORE_TOPIC_PREFIX"])
    poison = _poison(token)
    sent: list[tuple[str, bytes]] = []
    for n, (name, key, value, headers) in enumerate(poison):
        topic = topics.inputs[n % len(topics.inputs)]
        fresh = f"fresh-{n}"
        valid = orjson.dumps(_event(fresh, f"fresh-{n}-1"))
        messages = [(topic, key, value, headers), (topics.page_views, fresh.encode(), valid, [])]
        asyncio.run(_publish(kafka_bootstrap, messages))
        sent.append((name, value))
        _scored(worker, fresh, token)
        assert worker.process.poll() is None and worker.process.pid == pid, name

    # ids are ids, whatever their characters: a brace is safe in a key and readable over HTTP
    for n, odd in enumerate(["}x", "{a}", "a/b", "50% off"]):
        event = orjson.dumps(_event(odd, f"odd-{n}"))
        asyncio.run(_publish(kafka_bootstrap, [(topics.page_views, odd.encode(), event, [])]))
        quoted = "".join(f"%{b:02X}" for b in odd.encode())
        _scored(worker, odd, token, path=f"/leads/{quoted}")

    dead = asyncio.run(read_topic(kafka_bootstrap, topics.dlq, idle=3.0))
    assert len(dead) == len(poison)  # one letter each, never two
    by_digest = {hashlib.sha256(value).hexdigest(): name for name, value in sent}
    for letter in dead:
        headers = dict(letter.headers)
        assert headers["leadscore.reason"] and headers["leadscore.detail"]
        if "leadscore.truncated" in headers:  # cut down to fit, and still identifiable
            assert by_digest[headers["leadscore.sha256"].decode()] == "near 1 MiB"
            assert len(letter.value) < 1_000_000
    assert worker.metric("leadscore_events_rejected_total") == len(poison)
    assert worker.get("/healthz") and worker.process.poll() is None

    worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert token not in log and EMAIL not in log


def test_a_send_kafka_refuses_for_ever_stalls_health_but_not_shutdown(
    start_worker: StartWorker, kafka_bootstrap: str
) -> None:
    """Every score change is refused by its topic: the worker reports the stall and still stops
    within the session timeout when asked to."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    prefix = f"t-{uuid.uuid4().hex[:10]}."  # not the fixture's: the topic must exist first
    topics = TopicNames(prefix)

    async def tiny_scores_topic() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            limit = {"max.message.bytes": "64"}
            await admin.create_topics([NewTopic(topics.scores, 1, 1, topic_configs=limit)])
        finally:
            await admin.close()

    asyncio.run(tiny_scores_topic())
    worker = start_worker(
        LEADSCORE_TOPIC_PREFIX=prefix,
        LEADSCORE_APP_ID=prefix.rstrip("."),
        LEADSCORE_REDIS_PREFIX=prefix.rstrip("."),
        LEADSCORE_SESSION_TIMEOUT="6",
        LEADSCORE_STALL_SECONDS="2",
    )
    assert worker.process is not None
    event = orjson.dumps(_event("stuck", "stuck-1"))
    asyncio.run(_publish(kafka_bootstrap, [(topics.page_views, b"stuck", event, [])]))
    deadline = time.monotonic() + 60
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status, _, body = request(worker, "GET", "/healthz")
        health = orjson.loads(body)
        if status == 503 and health.get("status") == "stalled":
            break
        time.sleep(0.5)
    assert health.get("status") == "stalled" and health.get("failing") == "batch", health

    started = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(timeout=30)
    assert time.monotonic() - started < 6 + 3, worker.tail()  # the session timeout, and slack
