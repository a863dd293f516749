"""Analytics-spec calls through a real worker: POST /v1/batch and the engagement.analytics topic.

The recorded story (tests/fixtures/analytics) told as spec calls ends, in Redis, at the lead and
account scores offline scoring gives its native telling; refused calls are reported by index
(HTTP) or dead-lettered with the reason (Kafka), never quoting traits or context.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import redis as redis_sync

from scoring.analytics import event_lines, track_table
from scoring.events import parse_event
from scoring.model import default_model
from scoring.offline import Batch, score_lines
from streams.state.keys import Keys
from streams.worker.accounts import account_scores
from tests.support.http import request
from tests.support.worker import (
    WorkerProcess,
    load_leads,
    merged_scores_in_redis,
    publish_raw,
    read_topic,
    run_cli,
)

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "analytics"
AT = datetime(2026, 3, 5, tzinfo=UTC)
TOKEN = "analytics-test-token"
PERSONAL = (b"dana@acme.example", b"203.0.113.9", b"+1 555 0100", b"Dana")


def _calls() -> list[bytes]:
    return (FIXTURES / "story.calls.jsonl").read_bytes().splitlines()


def _expected() -> dict[str, int]:
    native = (FIXTURES / "story.events.jsonl").read_bytes().splitlines()
    scores, rejected = score_lines(native, [default_model()], AT)
    assert rejected == []
    return {s.lead_id: s.score for s in scores}


def _wait_for_scores(worker: WorkerProcess, redis_url: str, expected: dict[str, int]) -> None:
    prefix = worker.env["LEADSCORE_REDIS_PREFIX"]
    deadline = time.monotonic() + 120
    while (found := merged_scores_in_redis(redis_url, prefix, expected, default_model(), AT)) != (
        expected
    ):
        assert time.monotonic() < deadline, (found, expected, worker.tail())
        time.sleep(0.5)


def _expected_accounts() -> dict[str, tuple[int, int]]:
    """Each account's score and engaged contacts, offline, from the native telling."""
    batch = Batch(AT)
    for line in (FIXTURES / "story.events.jsonl").read_bytes().splitlines():
        batch.add(parse_event(orjson.loads(line)))
    scores = batch.score_accounts([default_model()])
    return {s.account_id: (s.score, s.engaged_contacts) for s in scores}


def _wait_for_accounts(worker: WorkerProcess, redis_url: str) -> None:
    expected = _expected_accounts()
    assert expected  # the story's group call names an account
    prefix = Keys(worker.env["LEADSCORE_REDIS_PREFIX"]).accounts.prefix
    deadline = time.monotonic() + 120
    while True:
        stored = load_leads(redis_url, prefix, expected)
        found = {
            k: (score.score, score.engaged_contacts)
            for k, v in stored.items()
            if v.version
            for score in account_scores(v, [default_model()], AT)
        }
        if found == expected:
            return
        assert time.monotonic() < deadline, (found, expected, worker.tail())
        time.sleep(0.5)


def test_batch_endpoint_scores_the_story_as_its_native_telling(
    start_worker: StartWorker, redis_url: str
) -> None:
    worker = start_worker(LEADSCORE_API_TOKEN=TOKEN)
    body = b'{"batch": [' + b",".join(_calls()) + b"]}"
    status, _, _ = request(worker, "POST", "/v1/batch", body)
    assert status == 401  # the same bearer token as POST /events
    status, _, answer = request(worker, "POST", "/v1/batch", body, token=TOKEN)
    assert status == 202, answer
    reply = orjson.loads(answer)
    assert reply["accepted"] == len(_calls()) and reply["rejected"] == 0
    _wait_for_scores(worker, redis_url, _expected())
    _wait_for_accounts(worker, redis_url)

    bad = {
        "batch": [
            {"type": "track", "userId": "u-x", "event": "Nope", "messageId": "b-1"},
            {
                "type": "identify",
                "userId": "u-x",
                "traits": {"email": "secret@x.example", "employees": "many"},
                "context": {"ip": "198.51.100.7"},
            },
            {"type": "page", "userId": "u-x", "messageId": "b-3", "properties": {"path": "/"}},
        ]
    }
    status, _, answer = request(worker, "POST", "/v1/batch", orjson.dumps(bad), token=TOKEN)
    assert status == 422
    reply = orjson.loads(answer)
    assert reply["accepted"] == 1 and reply["rejected"] == 2
    errors = {e["index"]: e["error"] for e in reply["errors"]}
    assert "not in the track table" in errors[0] and errors[1].startswith("traits.employees")
    assert b"secret@x.example" not in answer and b"198.51.100.7" not in answer

    status, _, answer = request(
        worker, "POST", "/v1/track", b'{"userId": "u-y", "event": "Demo Requested"}', token=TOKEN
    )
    assert status == 202 and orjson.loads(answer)["events"] == 1
    status, _, answer = request(worker, "POST", "/v1/batch", b'{"calls": []}', token=TOKEN)
    assert status == 400 and b"batch list" in answer
    log = worker.log_path.read_bytes()
    assert not any(p in log for p in (*PERSONAL, b"secret@x.example", b"198.51.100.7"))


def test_analytics_topic_scores_the_story_and_dead_letters_bad_calls(
    start_worker: StartWorker, kafka_bootstrap: str, redis_url: str
) -> None:
    worker = start_worker()
    topic = worker.env["LEADSCORE_TOPIC_PREFIX"] + "engagement.analytics"
    messages = []
    for line in _calls():
        call = orjson.loads(line)
        key = (call.get("userId") or call["anonymousId"]).encode()
        messages.append((topic, key, line))
    bad = [
        (topic, b"u-z", b'{"type": "screen", "userId": "u-z"}'),
        (topic, b"u-z", b'{"type": "track", "userId": "u-z", "event": "Nope"}'),
        (topic, b"u-z", b"{not json"),
    ]
    asyncio.run(publish_raw(kafka_bootstrap, [*messages, *bad]))
    _wait_for_scores(worker, redis_url, _expected())
    worker.wait_handled(len(messages) + len(bad))

    dlq = worker.env["LEADSCORE_TOPIC_PREFIX"] + "leadscore.dlq"
    letters = asyncio.run(read_topic(kafka_bootstrap, dlq))
    assert sorted(r.value for r in letters) == sorted(m[2] for m in bad)
    details = sorted(dict(r.headers)["leadscore.detail"].decode() for r in letters)
    assert any("type: must be one of: page, track, identify, group" in d for d in details)
    assert any("'Nope' is not in the track table" in d for d in details)
    assert any("not valid JSON" in d for d in details)

    before = worker.handled()
    mapped, _ = event_lines(_calls(), track_table([default_model()]), AT)
    asyncio.run(publish_raw(kafka_bootstrap, messages))  # redelivered: nothing counts twice
    worker.wait_handled(int(before) + len(mapped))
    _wait_for_scores(worker, redis_url, _expected())

    worker.stop()  # Redis loses everything: the calls on the topic are mapped again by rebuild
    client = redis_sync.Redis.from_url(redis_url)
    prefix = worker.env["LEADSCORE_REDIS_PREFIX"]
    doomed = list(client.scan_iter(match=f"{prefix}*", count=1000))
    client.delete(*doomed)
    client.close()
    assert merged_scores_in_redis(redis_url, prefix, _expected(), default_model(), AT) == {}
    result = run_cli("rebuild", env=worker.env)
    assert result.returncode == 0, result.stderr
    assert merged_scores_in_redis(redis_url, prefix, _expected(), default_model(), AT) == (
        _expected()
    )
