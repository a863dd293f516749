"""The webhook sink against real Kafka and Redis and a local HTTP server that fails on purpose."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka.topics import ensure_topics
from streams.settings import Settings
from streams.sinks.webhook import SinkOptions, WebhookSink, backoff_delays, slack_message
from tests.support.worker import publish_raw, read_topic

integration = pytest.mark.integration
LEADSCORE = str(Path(sys.executable).with_name("leadscore"))


def make_alert(lead_id: str, kind: str = "hot") -> dict[str, Any]:
    return {
        "alert_id": str(uuid.uuid4()),
        "kind": kind,
        "crossing": 1,
        "lead_id": lead_id,
        "model": "default",
        "model_version": 1,
        "score": 85,
        "fit": 40.0,
        "engagement": 45.0,
        "grade": "A1",
        "route": "senior_ae",
        "hot": kind == "hot",
        "explanation": [
            {"rule": "senior_title", "kind": "fit", "points": 20, "detail": "Director"},
            {"rule": "pricing_page", "kind": "engagement", "points": 20, "detail": "pricing"},
            {"rule": "email_opened", "kind": "engagement", "points": 5, "detail": "opens"},
            {"rule": "webinar_attended", "kind": "engagement", "points": 20, "detail": "w"},
            {"rule": "target_industry", "kind": "fit", "points": 10, "detail": "SaaS"},
        ],
        "emitted_at": "2026-01-01T00:00:00Z",
    }


# ---- pure parts -----------------------------------------------------------------------------


def test_slack_message_names_lead_score_grade_route_and_top_reasons() -> None:
    message = slack_message(make_alert("lead-7"))
    assert "lead-7" in message["text"] and "85" in message["text"]
    assert "A1" in message["text"] and "senior_ae" in message["text"]
    why = message["blocks"][-1]["text"]["text"]
    assert why.count("•") == 3  # the three largest contributions only
    assert all(rule in why for rule in ("senior_title", "pricing_page", "webinar_attended"))
    assert "target_industry" not in why and "email_opened" not in why


def test_backoff_doubles_and_is_capped() -> None:
    options = SinkOptions(url="x", max_attempts=6, backoff=1.0, max_backoff=5.0)
    assert backoff_delays(options) == [1.0, 2.0, 4.0, 5.0, 5.0]


# ---- a webhook that misbehaves on cue --------------------------------------------------------


@dataclass
class Webhook:
    """Answers each request from a per-alert script of statuses; 200 once the script runs out."""

    scripts: dict[str, list[int]] = field(default_factory=dict)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    requests: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    bodies: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        alert_id = request.headers["Idempotency-Key"]
        self.arrived.set()
        gate = self.gates.get(alert_id)
        if gate is not None:
            await gate.wait()
        script = self.scripts.get(alert_id, [])
        status = script.pop(0) if script else 200
        self.requests[alert_id].append(status)
        self.bodies[alert_id].append(orjson.loads(await request.read()))
        return web.Response(status=status)

    def delivered(self) -> dict[str, int]:
        return {a: s.count(200) for a, s in self.requests.items() if 200 in s}


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    server = web.Application()
    server.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    hook.url = f"http://127.0.0.1:{port}/hook"
    yield hook
    for gate in hook.gates.values():
        gate.set()
    await runner.cleanup()


@pytest.fixture
async def settings(kafka_bootstrap: str, redis_url: str, unique: str) -> Settings:
    s = Settings(
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        app_id=f"t-{unique}",
        topic_prefix=f"t-{unique}.",
        redis_prefix=f"t-{unique}",
        topic_partitions=2,
    )
    await ensure_topics(s)
    return s


async def publish(settings: Settings, values: list[bytes]) -> None:
    # one key, so one partition, so the sink sees them in this order
    await publish_raw(settings.kafka_bootstrap, [(settings.topics.hot, b"k", v) for v in values])


async def committed(settings: Settings, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(m.offset for tp, m in offsets.items() if tp.topic == settings.topics.hot)


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def run_until_committed(sink: WebhookSink, settings: Settings, count: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))

    async def done() -> bool:
        assert not task.done(), task.exception()
        return await committed(settings, sink.group_id) >= count

    try:
        await until(done, f"{count} commits")
    finally:
        stop.set()
        await task


# ---- the sink --------------------------------------------------------------------------------


@integration
async def test_retries_dead_letters_and_dedupes(settings: Settings, webhook: Webhook) -> None:
    flaky, fine, broken, refused = (make_alert(f"lead-{n}") for n in range(4))
    cooled = make_alert("lead-4", kind="cooled")
    webhook.scripts = {
        flaky["alert_id"]: [503, 503],  # recovers on the third try
        broken["alert_id"]: [500] * 10,  # never recovers
        refused["alert_id"]: [400],  # refused outright: no retry
    }
    values = [orjson.dumps(a) for a in (flaky, fine, broken, refused, fine, cooled)]
    values.append(b"{not json")
    await publish(settings, values)

    options = SinkOptions(url=webhook.url, max_attempts=3, backoff=0.01)
    sink = WebhookSink(settings, options)
    await run_until_committed(sink, settings, len(values))

    assert webhook.requests[flaky["alert_id"]] == [503, 503, 200]
    assert webhook.requests[fine["alert_id"]] == [200]  # its repeat was recognised
    assert webhook.requests[broken["alert_id"]] == [500, 500, 500]
    assert webhook.requests[refused["alert_id"]] == [400]
    assert cooled["alert_id"] not in webhook.requests
    assert webhook.delivered() == {flaky["alert_id"]: 1, fine["alert_id"]: 1}
    assert sink.duplicates == 1
    body = webhook.bodies[fine["alert_id"]][0]
    assert "lead-1" in body["text"] and body["blocks"][0]["type"] == "header"

    letters = await read_topic(settings.kafka_bootstrap, settings.topics.dlq)
    reasons = {r.value: dict(r.headers)["leadscore.reason"].decode() for r in letters}
    assert reasons == {
        orjson.dumps(broken): "webhook-failed",
        orjson.dumps(refused): "webhook-rejected",
        b"{not json": "invalid-alert",
    }
    detail = next(dict(r.headers) for r in letters if r.value == orjson.dumps(broken))
    assert detail["leadscore.detail"] == b"HTTP 500 after 3 attempts"
    assert detail["leadscore.topic"] == settings.topics.hot.encode()


@integration
async def test_a_restarted_sink_does_not_post_again(settings: Settings, webhook: Webhook) -> None:
    alerts = [orjson.dumps(make_alert(f"lead-{n}")) for n in range(3)]
    await publish(settings, alerts)
    options = SinkOptions(url=webhook.url, format="json", backoff=0.01)
    await run_until_committed(WebhookSink(settings, options), settings, 3)
    assert sorted(webhook.delivered().values()) == [1, 1, 1]

    # The worker re-sends an outbox after a crash with the same alert ids; a fresh sink process
    # (same group, new instance) reads them and must recognise every one from Redis.
    await publish(settings, alerts)
    second = WebhookSink(settings, options)
    await run_until_committed(second, settings, 6)
    assert sorted(webhook.delivered().values()) == [1, 1, 1]
    assert second.duplicates == 3 and second.delivered == 0
    assert webhook.bodies[orjson.loads(alerts[0])["alert_id"]][0] == orjson.loads(alerts[0])


@integration
async def test_offset_is_committed_only_after_delivery(
    settings: Settings, webhook: Webhook
) -> None:
    alert = make_alert("lead-slow")
    webhook.gates[alert["alert_id"]] = gate = asyncio.Event()
    await publish(settings, [orjson.dumps(alert)])
    sink = WebhookSink(settings, SinkOptions(url=webhook.url, request_timeout=120))
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        await asyncio.wait_for(webhook.arrived.wait(), 60)
        # the webhook holds the request: delivery is not done, so nothing may be committed
        assert await committed(settings, sink.group_id) == 0
        gate.set()

        async def done() -> bool:
            return await committed(settings, sink.group_id) == 1

        await until(done, "the commit after delivery")
    finally:
        stop.set()
        gate.set()
        await task
    assert webhook.delivered() == {alert["alert_id"]: 1}


@integration
async def test_cli_delivers_and_stops_on_sigterm(
    settings: Settings, webhook: Webhook, unique: str
) -> None:
    alert = make_alert("lead-cli")
    await publish(settings, [orjson.dumps(alert)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    env.update(
        LEADSCORE_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        LEADSCORE_REDIS_URL=settings.redis_url,
        LEADSCORE_APP_ID=settings.app_id,
        LEADSCORE_TOPIC_PREFIX=settings.topic_prefix,
        LEADSCORE_REDIS_PREFIX=settings.redis_prefix,
    )
    process = await asyncio.create_subprocess_exec(
        LEADSCORE, "sink", "webhook", "--url", webhook.url, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:

        async def done() -> bool:
            assert process.returncode is None
            return await committed(settings, f"t-{unique}-webhook") == 1

        await until(done, "the CLI sink to deliver")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert webhook.delivered() == {alert["alert_id"]: 1}
    lines = [orjson.loads(line) for line in stderr.splitlines() if line.strip()]
    assert any(line["message"] == f"alert {alert['alert_id']} delivered" for line in lines)


@integration
async def test_anything_else_on_the_routing_topic_is_dead_lettered_and_the_sink_goes_on(
    settings: Settings, webhook: Webhook
) -> None:
    good = make_alert("lead-after")
    odd_shapes = [
        b"[1, 2]",
        b'"text"',
        b'{"alert_id": 5}',
        b'{"alert_id": ""}',
        orjson.dumps({**make_alert("x"), "explanation": "not a list"}),
        orjson.dumps({**make_alert("y"), "explanation": [1, None, "z"]}),
        b"{" * 300_000,
        b"x" * 1_040_000,  # with its headers, more than Kafka takes as it is
    ]
    await publish(settings, [*odd_shapes, orjson.dumps(good)])
    sink = WebhookSink(settings, SinkOptions(url=webhook.url, format="slack", backoff=0.01))
    await run_until_committed(sink, settings, len(odd_shapes) + 1)
    assert webhook.delivered() == {good["alert_id"]: 1}
    letters = await read_topic(settings.kafka_bootstrap, settings.topics.dlq)
    assert len(letters) == len(odd_shapes) == sink.dead_lettered
    assert {dict(r.headers)["leadscore.reason"] for r in letters} == {b"invalid-alert"}
    assert any("leadscore.truncated" in dict(r.headers) for r in letters)
