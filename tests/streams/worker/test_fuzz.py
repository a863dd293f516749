"""A bounded fuzz run against a real worker: thousands of generated messages, every one accounted.

Generated messages (bytes, JSON, near-valid events, odd times, odd ids) go to every input topic.
Each is classified by the contract itself beforehand: what validates must be scored, what does not
must be dead-lettered exactly once. Afterwards the worker is the same healthy process, its Redis
state equals offline scoring of the accepted events, and its log holds no e-mail address or token.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import strategies as st

from scoring.events import Event, EventType
from streams.kafka.codec import Rejection, decode
from streams.kafka.topics import topic_for
from streams.modelfile import load_models
from streams.settings import TopicNames
from tests.support.http import request
from tests.support.strategies import (
    VALID,
    generate,
    json_value,
    message,
    near_valid,
    rfc3339_at_the_edges,
)
from tests.support.worker import WorkerProcess, publish_raw, read_topic, stored_and_offline

pytestmark = [pytest.mark.integration, pytest.mark.faults]

MAX_BYTES = 8192
KAFKA_MESSAGES = 4000
HTTP_ITEMS = 600
EMAIL = "fuzz.person@example.org"
lead_ids = st.one_of(
    st.text(min_size=1, max_size=40), st.sampled_from(["}x", "{a}", "a/b", "50% off", "é"])
)


def _distinct(value: bytes, n: int, now: datetime) -> bytes:
    """Give a near-valid event its own id, lead and time: two generated events that shared the
    template's id would make the outcome depend on which one the worker happened to read first."""
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if not isinstance(data, dict):
        return value
    if data.get("event_id") == VALID["event_id"]:
        data["event_id"] = f"fz-{n}"
    if data.get("occurred_at") == VALID["occurred_at"]:
        data["occurred_at"] = (now - timedelta(minutes=n)).isoformat()
    if isinstance(data.get("properties"), dict) and n % 7 == 0:
        data["properties"]["email"] = EMAIL  # personal data the log must never repeat
    try:
        return orjson.dumps(data)
    except TypeError:  # nested deeper than orjson writes: send it as it was generated
        return value


def _encoded(item: Any) -> bytes | None:
    try:
        return orjson.dumps(item)
    except TypeError:
        return None  # deeper than JSON encoders go: the API must refuse it too


def test_thousands_of_generated_messages_are_each_scored_or_dead_lettered_once(
    start_worker: Callable[..., WorkerProcess], kafka_bootstrap: str, redis_url: str
) -> None:
    token = secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    rng = random.Random(11)
    generated = generate(message, KAFKA_MESSAGES // 2)
    odd_leads = generate(lead_ids, KAFKA_MESSAGES // 2)
    values = [_distinct(v, n, now) for n, v in enumerate(generated)]
    for n, stamp in enumerate(generate(rfc3339_at_the_edges(), 400)):  # whole calendar, any zone
        values.append(orjson.dumps({**VALID, "event_id": f"edge-{n}", "occurred_at": stamp}))
    for n, lead_id in enumerate(odd_leads):  # valid events of leads with any id at all
        kind = rng.choice([EventType.PAGE_VIEW, EventType.EMAIL_OPENED, EventType.MEETING_BOOKED])
        event = {**VALID, "event_id": f"odd-{n}", "lead_id": lead_id, "type": kind.value}
        event["occurred_at"] = (now - timedelta(seconds=rng.randrange(86_400 * 20))).isoformat()
        values.append(orjson.dumps(event))

    worker = start_worker(LEADSCORE_MAX_EVENT_BYTES=str(MAX_BYTES), LEADSCORE_API_TOKEN=token)
    assert worker.process is not None
    pid = worker.process.pid
    topics = TopicNames(worker.env["LEADSCORE_TOPIC_PREFIX"])
    accepted: list[Event] = []
    refused: list[bytes] = []
    messages: list[tuple[str, bytes | None, bytes]] = []
    for value in values:
        decoded = decode(value, MAX_BYTES, now)
        if isinstance(decoded, Rejection):
            refused.append(value)
            messages.append((rng.choice(topics.inputs), None, value))
        else:
            accepted.append(decoded)
            topic = topic_for(decoded.type, topics)
            messages.append((topic, decoded.lead_id.encode(), value))
    assert len(accepted) > KAFKA_MESSAGES // 3 and len(refused) > KAFKA_MESSAGES // 4
    asyncio.run(publish_raw(kafka_bootstrap, messages))

    # The HTTP way in: lists of generated items; the answer must name exactly the items the
    # worker's rules refuse, and every item it accepts must be scored.
    items = [orjson.loads(_distinct(orjson.dumps(i), n, now)) for n, i in enumerate(
        generate(st.one_of(near_valid, json_value), HTTP_ITEMS))]  # fmt: skip
    for n, item in enumerate(items):
        if isinstance(item, dict) and isinstance(item.get("event_id"), str):
            item["event_id"] = f"http-{n}-" + item["event_id"][:100]
    posted = 0
    for start in range(0, len(items), 10):
        chunk = items[start : start + 10]
        verdicts = [decode(_encoded(item), MAX_BYTES, now) for item in chunk]
        status, _, body = request(worker, "POST", "/events", orjson.dumps(chunk), token)
        answer = orjson.loads(body)
        refused_here = {i for i, v in enumerate(verdicts) if isinstance(v, Rejection)}
        assert {e["index"] for e in answer.get("errors", [])} == refused_here, answer
        assert status == (422 if refused_here else 202)
        assert answer["accepted"] == len(chunk) - len(refused_here)
        assert token not in body.decode() and EMAIL not in body.decode()
        accepted += [v for v in verdicts if isinstance(v, Event)]
        posted += answer["accepted"]
    worker.wait_handled(len(messages) + posted, timeout=300)

    assert worker.metric("leadscore_events_consumed_total") == len(accepted)
    assert worker.metric("leadscore_events_rejected_total") == len(refused)  # HTTP sends none
    dead = asyncio.run(read_topic(kafka_bootstrap, topics.dlq, idle=3.0))
    assert Counter(r.value for r in dead) == Counter(refused)  # each exactly once

    at = datetime.now(UTC)
    models = load_models(None)
    prefix = worker.env["LEADSCORE_REDIS_PREFIX"]
    stored, expected = stored_and_offline(redis_url, prefix, accepted, models[0], at)
    assert stored == expected

    assert orjson.loads(worker.get("/healthz"))["status"] == "ok"
    assert worker.process.poll() is None and worker.process.pid == pid
    worker.stop()
    log = worker.log_path.read_text(errors="replace")
    assert EMAIL not in log and token not in log
