"""Identity merge end to end: real Kafka, real Redis, a real `leadscore worker` process.

The acceptance story of issue 15: a visitor views pricing three times anonymously, then is
identified as the seeds' Director at a 500-person SaaS company. Told with the identification first
for one lead and last for another, both end at offline scoring's score, hot once each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from scoring.events import parse_event
from scoring.model import default_model
from scoring.offline import score_events
from streams.observability.metrics import Metrics
from streams.state.keys import Keys
from streams.state.redis_store import RedisLeadStore, connect
from streams.worker import identity
from streams.worker.processor import score_now
from tests.support.events import anonymous, event, identified, profile
from tests.support.worker import WorkerProcess, jsonl, read_topic, run_cli

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]


def story(lead: str, visitor: str, now: datetime) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The Director's own events (not hot: 65), three anonymous pricing views, and the link."""
    minute = timedelta(minutes=1)
    start = now - timedelta(hours=3)
    own = [
        profile(start, lead, job_title="Director", company_size=500, industry="SaaS"),
        event("webinar_attended", start + minute, lead, webinar_id="w-7"),
        *[event("email_opened", start + (2 + i) * minute, lead) for i in range(4)],
    ]
    views = [
        anonymous("page_view", visitor, start - timedelta(days=1) + n * minute, path="/pricing")
        for n in range(3)
    ]
    return [*own, *views], identified(lead, visitor, now - timedelta(hours=1), f"id-{lead}")


def stored_scores(
    worker: WorkerProcess, redis_url: str, leads: list[str], at: datetime
) -> dict[str, int]:
    """Each lead's score as the worker stored it, its visitors' records combined in."""

    async def load() -> dict[str, int]:
        client = connect(redis_url)
        keys = Keys(worker.env["LEADSCORE_REDIS_PREFIX"])
        try:
            stored = await RedisLeadStore(client, keys, 5, Metrics()).load(leads)
            visitors = RedisLeadStore(client, keys.visitors, 0, Metrics())
            out = {}
            for lead, record in stored.items():
                members = await visitors.load(identity.members(record))
                out[lead] = score_now(record, [default_model()], at, members)[0].score
            return out
        finally:
            await client.aclose()

    return asyncio.run(load())


def test_identification_first_or_last_gives_the_offline_score_and_one_alert(
    start_worker: StartWorker, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    worker = start_worker()
    now = datetime.now(UTC)
    first_rest, first_link = story("lead-first", "anon-first", now)
    last_rest, last_link = story("lead-last", "anon-last", now)
    everything = [*first_rest, first_link, *last_rest, last_link]
    file_a, file_b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    file_a.write_bytes(jsonl([first_link, *last_rest]))
    file_b.write_bytes(jsonl([*first_rest, last_link]))
    for path in (file_a, file_b):
        done = run_cli("produce", str(path), env=worker.env)
        assert done.returncode == 0, done.stderr

    at = now + timedelta(minutes=1)
    parsed = [parse_event(e) for e in everything]
    expected = {s.lead_id: s.score for s in score_events(parsed, [default_model()], at)}
    alone = {
        s.lead_id: s.score
        for s in score_events([e for e in parsed if not e.anonymous], [default_model()], at)
    }
    assert expected["lead-first"] == expected["lead-last"] > alone["lead-last"]
    assert expected["lead-last"] >= 80 > alone["lead-last"]

    deadline = time.monotonic() + 90
    leads = ["lead-first", "lead-last"]
    while stored_scores(worker, redis_url, leads, at) != expected:
        assert time.monotonic() < deadline, (stored_scores(worker, redis_url, leads, at), expected)
        time.sleep(0.5)

    hot = worker.env["LEADSCORE_TOPIC_PREFIX"] + "leads.hot"
    alerts = [orjson.loads(r.value) for r in asyncio.run(read_topic(kafka_bootstrap, hot))]
    assert sorted(a["lead_id"] for a in alerts) == leads
    by_lead = {a["lead_id"]: a for a in alerts}
    assert by_lead["lead-last"]["tipping_event"]["event_id"] == "id-lead-last"
    notes = [c["detail"] for c in by_lead["lead-last"]["explanation"] if c["kind"] == "identity"]
    assert notes and notes[0].startswith("anonymous visitor anon-last identified on")
    api = orjson.loads(worker.get("/leads/lead-last"))["scores"][0]
    assert api["score"] >= 80

    again = tmp_path / "again.jsonl"  # everything published once more: no new alert id
    again.write_bytes(jsonl(everything))
    assert run_cli("produce", str(again), env=worker.env).returncode == 0
    worker.wait_handled(2 * len(everything))
    time.sleep(3)  # time for any touch the repeats might (wrongly) cause to come round
    records = asyncio.run(read_topic(kafka_bootstrap, hot))
    assert {orjson.loads(r.value)["alert_id"] for r in records} == {a["alert_id"] for a in alerts}
    assert stored_scores(worker, redis_url, leads, at) == expected
