"""The streaming pipeline end to end: real Kafka, real Redis, a real `leadscore worker` process."""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from scoring.events import parse_event
from scoring.offline import score_events
from scoring.simulate import simulate
from streams.modelfile import load_models
from tests.support.seeds import seed_hot_lead
from tests.support.worker import (
    WorkerProcess,
    jsonl,
    publish_raw,
    read_topic,
    run_cli,
    scores_in_redis,
)

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]


def hot_topic(worker: WorkerProcess) -> str:
    return worker.env["LEADSCORE_TOPIC_PREFIX"] + "leads.hot"


def test_seed_example_alerts_once_at_85_and_republishing_adds_nothing(
    start_worker: StartWorker, kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker = start_worker()
    seed = seed_hot_lead("seed-lead", datetime.now(UTC))
    webinar = next(e for e in seed if e["type"] == "webinar_attended")
    before, tipping = tmp_path / "before.jsonl", tmp_path / "tipping.jsonl"
    before.write_bytes(jsonl(e for e in seed if e is not webinar))
    tipping.write_bytes(jsonl([webinar]))

    # The lead's story in time order: profile, pricing twice, 4 emails (65: not hot yet) ...
    assert run_cli("produce", str(before), env=worker.env).returncode == 0
    worker.wait_handled(7)
    assert orjson.loads(worker.get("/leads/seed-lead"))["scores"][0]["score"] == 65
    # ... then the webinar tips it over the threshold.
    assert run_cli("produce", str(tipping), env=worker.env).returncode == 0
    worker.wait_handled(8)
    alerts = run_cli("alerts", "--from-beginning", "--timeout", "5", env=worker.env)
    lines = [json.loads(line) for line in alerts.stdout.splitlines()]
    assert [(a["kind"], a["lead_id"], a["score"], a["route"]) for a in lines] == [
        ("hot", "seed-lead", 85, "senior_ae")
    ]
    alert = lines[0]
    assert alert["grade"] == "A1"
    assert sum(c["points"] for c in alert["explanation"]) == 85
    assert alert["tipping_event"]["event_id"] == webinar["event_id"]
    assert alert["event_time"] and alert["emitted_at"]

    everything = tmp_path / "seed.jsonl"
    everything.write_bytes(jsonl(seed))
    again = run_cli("produce", str(everything), env=worker.env)
    assert again.returncode == 0, again.stderr
    worker.wait_handled(16)
    assert worker.metric("leadscore_dedupe_hits_total") == 8
    records = asyncio.run(read_topic(kafka_bootstrap, hot_topic(worker)))
    assert {orjson.loads(r.value)["alert_id"] for r in records} == {alert["alert_id"]}


def test_seed_file_published_at_once_alerts_exactly_once(
    start_worker: StartWorker, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The events travel on four topics, so the worker may see the webinar before the emails and
    cross at 80; either way there is one alert, and the lead ends at 85 routed to a senior AE."""
    worker = start_worker()
    path = tmp_path / "seed.jsonl"
    path.write_bytes(jsonl(seed_hot_lead("seed-lead", datetime.now(UTC))))
    assert run_cli("produce", str(path), env=worker.env).returncode == 0
    worker.wait_handled(8)
    records = asyncio.run(read_topic(kafka_bootstrap, hot_topic(worker)))
    alerts = [orjson.loads(r.value) for r in records]
    assert [(a["kind"], a["route"]) for a in alerts] == [("hot", "senior_ae")]
    assert alerts[0]["score"] >= 80
    final = orjson.loads(worker.get("/leads/seed-lead"))["scores"][0]
    assert (final["score"], final["grade"], final["route"], final["hot"]) == (
        85,
        "A1",
        "senior_ae",
        True,
    )


def test_stream_and_offline_agree_despite_disorder_and_duplicates(
    start_worker: StartWorker, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    world = simulate(leads=1000, days=30, seed=7, end=now - timedelta(minutes=1))
    events = world.events
    assert len(events) >= 10_000, len(events)
    rng = random.Random(11)
    delivered = events + rng.sample(events, len(events) // 10)  # 10% duplicates
    rng.shuffle(delivered)  # and out of order
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(delivered))

    worker = start_worker()
    result = run_cli("produce", str(path), env=worker.env)
    assert result.returncode == 0, result.stderr
    worker.wait_handled(len(delivered), timeout=300)

    at = datetime.now(UTC)
    models = load_models(None)
    expected = {s.lead_id: s for s in score_events((parse_event(e) for e in events), models, at)}

    prefix = worker.env["LEADSCORE_REDIS_PREFIX"]
    actual = scores_in_redis(redis_url, prefix, expected, models[0], at)
    assert len(actual) == len(expected) == 1000
    mismatched = {k: (actual[k], v.score) for k, v in expected.items() if actual[k] != v.score}
    assert not mismatched
    assert worker.metric("leadscore_dedupe_hits_total") == len(delivered) - len(events)


FAST_DECAY_MODEL = """
name: fastdecay
version: 1
decay: {rate: 0.5, period_days: 0.0001}   # half of the engagement is gone every 8.6 seconds
thresholds: {hot: 60, rearm: 40}
page_categories:
  - {category: pricing, patterns: ['^/pricing']}
fit:
  max: 50
  rules:
    - {id: senior, points: 30, attribute: seniority, in: [director, vp]}
engagement:
  max: 50
  rules:
    - {id: pricing, event: page_view, page_category: pricing, points: 25, cap: 50}
"""


def test_silent_lead_cools_by_decay_alone(
    start_worker: StartWorker, kafka_bootstrap: str, tmp_path: Path
) -> None:
    model = tmp_path / "fast.yaml"
    model.write_text(FAST_DECAY_MODEL)
    worker = start_worker(LEADSCORE_MODEL=str(model), LEADSCORE_COOLING_INTERVAL="0.5")
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    lead = "cooling-lead"
    events = [
        {
            "event_id": "c0",
            "lead_id": lead,
            "type": "profile_updated",
            "occurred_at": now,
            "properties": {"seniority": "director"},
        },
        {
            "event_id": "c1",
            "lead_id": lead,
            "type": "page_view",
            "occurred_at": now,
            "properties": {"path": "/pricing"},
        },
        {
            "event_id": "c2",
            "lead_id": lead,
            "type": "page_view",
            "occurred_at": now,
            "properties": {"path": "/pricing"},
        },
    ]
    assert run_cli("produce", "-", env=worker.env, stdin=jsonl(events)).returncode == 0
    deadline = time.monotonic() + 60
    kinds: list[str] = []
    while time.monotonic() < deadline and kinds != ["hot", "cooled"]:
        records = asyncio.run(read_topic(kafka_bootstrap, hot_topic(worker), idle=1.0))
        kinds = [orjson.loads(r.value)["kind"] for r in records]
    assert kinds == ["hot", "cooled"], worker.tail()
    cooled = orjson.loads(records[1].value)
    assert cooled["score"] < 40 and cooled["hot"] is False
    assert cooled["alert_id"] != orjson.loads(records[0].value)["alert_id"]


def test_bad_messages_go_to_the_dead_letter_topic(
    start_worker: StartWorker, kafka_bootstrap: str
) -> None:
    worker = start_worker(LEADSCORE_MAX_EVENT_BYTES="2048")
    prefix = worker.env["LEADSCORE_TOPIC_PREFIX"]
    good = seed_hot_lead("good-lead", datetime.now(UTC))
    oversized = {**good[1], "event_id": "big", "properties": {"path": "/" + "x" * 4000}}
    bad = [
        b"{not json",
        orjson.dumps({**good[1], "occurred_at": "yesterday"}),
        orjson.dumps(oversized),
        b"\xff\xfe\x00",
    ]
    messages: list[tuple[str, bytes | None, bytes]] = [
        (prefix + "engagement.page-views", b"good-lead", orjson.dumps(e)) for e in good
    ]
    for i, value in enumerate(bad):  # bad ones in the middle of the good traffic
        messages.insert(2 + i, (prefix + "engagement.page-views", b"k", value))
    asyncio.run(publish_raw(kafka_bootstrap, messages))
    worker.wait_handled(len(messages))

    dead = asyncio.run(read_topic(kafka_bootstrap, prefix + "leadscore.dlq"))
    assert sorted(r.value for r in dead) == sorted(bad)
    for record in dead:
        headers = dict(record.headers)
        assert headers["leadscore.topic"] == (prefix + "engagement.page-views").encode()
        assert int(headers["leadscore.offset"]) >= 0
        assert headers["leadscore.partition"].isdigit()
    reasons = {r.value: dict(r.headers)["leadscore.reason"].decode() for r in dead}
    assert reasons[b"{not json"] == "not_json"
    assert reasons[orjson.dumps(oversized)] == "too_large"
    detail = dict(next(r for r in dead if b"yesterday" in r.value).headers)["leadscore.detail"]
    assert b"occurred_at" in detail
    assert worker.metric("leadscore_events_rejected_total") == len(bad)
    lead = orjson.loads(worker.get("/leads/good-lead"))
    assert lead["scores"][0]["score"] == 85  # the good events around the bad ones were all scored
    assert worker.process is not None and worker.process.poll() is None


def test_post_events_publishes_only_the_valid_items(
    start_worker: StartWorker, kafka_bootstrap: str
) -> None:
    worker = start_worker()
    good = seed_hot_lead("http-lead", datetime.now(UTC))[:2]
    batch = [good[0], {"lead_id": "x", "type": "page_view"}, good[1]]
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.port}/events", data=orjson.dumps(batch), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 422
    body = orjson.loads(raised.value.read())
    assert body["accepted"] == 2 and body["rejected"] == 1
    assert [e["index"] for e in body["errors"]] == [1]
    assert "event_id" in body["errors"][0]["error"]

    prefix = worker.env["LEADSCORE_TOPIC_PREFIX"]
    published = asyncio.run(read_topic(kafka_bootstrap, prefix + "engagement.page-views"))
    published += asyncio.run(read_topic(kafka_bootstrap, prefix + "leads.profiles", idle=0.5))
    assert sorted(orjson.loads(r.value)["event_id"] for r in published) == sorted(
        e["event_id"] for e in good
    )

    one = urllib.request.Request(
        f"http://127.0.0.1:{worker.port}/events", data=orjson.dumps(good[0]), method="POST"
    )
    with urllib.request.urlopen(one, timeout=10) as response:
        assert response.status == 202
        assert orjson.loads(response.read()) == {"accepted": 1, "rejected": 0}
