"""The webhook sink: alerts from ``leads.hot`` posted to a chat channel or any HTTP endpoint.

Delivery is at least once and never twice on purpose:

- the sink is a Kafka consumer group of its own and commits a record's offset only once the record
  is settled (delivered, skipped, or parked on the dead-letter topic), so a crash re-reads it;
- before posting it claims the alert id in Redis (``SET NX`` with a short TTL) and marks it sent
  afterwards (with a long TTL), so a restarted or rebalanced sink does not post an alert again, and
  two sinks never post the same one at the same time;
- failures are retried with exponential backoff a bounded number of times; an alert that still
  cannot be delivered, or that the endpoint refuses outright (a 4xx other than 408/429), goes to
  ``leadscore.dlq`` with its original bytes and ``leadscore.reason``/``leadscore.detail`` headers,
  and the sink moves on instead of blocking every later alert behind it.

Logs name alerts by id only; the payload itself goes only to the configured endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.structs import OffsetAndMetadata
from redis.asyncio import Redis

from streams.errors import DeliveryFailed
from streams.kafka.clients import kafka_consumer, kafka_producer
from streams.kafka.messages import dead_letter
from streams.settings import Settings
from streams.state.keys import Keys
from streams.state.redis_store import connect

log = logging.getLogger("leadscore.sink")

Format = Literal["slack", "json"]
_PENDING, _SENT = b"pending", b"sent"
_RETRYABLE_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class SinkOptions:
    url: str
    format: Format = "slack"
    group_id: str = ""  # default: "<app_id>-webhook"
    max_attempts: int = 5
    backoff: float = 0.5  # first retry delay in seconds, doubled each time ...
    max_backoff: float = 30.0  # ... up to this
    request_timeout: float = 10.0
    claim_ttl: int = 60  # seconds a claim lives if the sink dies while posting
    sent_ttl: int = 7 * 24 * 3600  # seconds a delivered alert id is remembered
    include_cooled: bool = False


def top_reasons(alert: dict[str, Any], count: int = 3) -> list[dict[str, Any]]:
    contributions = alert.get("explanation") or []
    return sorted(contributions, key=lambda c: -abs(c.get("points", 0)))[:count]


def slack_message(alert: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook body: a plain ``text`` fallback plus blocks for the rich view."""
    hot = alert.get("kind", "hot") == "hot"
    title = "Hot lead" if hot else "Lead cooled"
    route = alert.get("route") or "unrouted"
    summary = (
        f"{title}: {alert.get('lead_id')} scored {alert.get('score')} "
        f"(grade {alert.get('grade')}), route {route}"
    )
    reasons = top_reasons(alert)
    why = "\n".join(
        f"• {c.get('rule')} {c.get('points', 0):+d}: {c.get('detail', '')}" for c in reasons
    )
    fields = [
        {"type": "mrkdwn", "text": f"*Score*\n{alert.get('score')}"},
        {"type": "mrkdwn", "text": f"*Grade*\n{alert.get('grade')}"},
        {"type": "mrkdwn", "text": f"*Route*\n{route}"},
        {"type": "mrkdwn", "text": f"*Model*\n{alert.get('model')} v{alert.get('model_version')}"},
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": f"{title}: {alert.get('lead_id')}"},
        },
        {"type": "section", "fields": fields},
    ]
    if why:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Why*\n{why}"}})
    return {"text": summary, "blocks": blocks}


def render(alert: dict[str, Any], fmt: Format) -> dict[str, Any]:
    return slack_message(alert) if fmt == "slack" else alert


def backoff_delays(options: SinkOptions) -> list[float]:
    """The waits between attempts: ``max_attempts - 1`` of them, doubling, capped."""
    return [
        min(options.backoff * 2**n, options.max_backoff) for n in range(options.max_attempts - 1)
    ]


class WebhookSink:
    """Consume routing events and deliver each one; see the module docstring for the guarantees."""

    def __init__(self, settings: Settings, options: SinkOptions) -> None:
        self.settings = settings
        self.options = options
        self.group_id = options.group_id or f"{settings.app_id}-webhook"
        self.keys = Keys(settings.redis_prefix)
        self.delivered = 0
        self.dead_lettered = 0
        self.duplicates = 0

    def _dedupe_key(self, alert_id: str) -> str:
        return f"{self.keys.prefix}:sink:{self.group_id}:{alert_id}"

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set (or forever)."""
        stop = stop or asyncio.Event()
        consumer = kafka_consumer(
            self.settings,
            self.settings.topics.hot,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        producer = kafka_producer(self.settings, acks="all")
        redis = connect(self.settings.redis_url, self.settings.redis_cluster)
        timeout = aiohttp.ClientTimeout(total=self.options.request_timeout)
        await consumer.start()
        await producer.start()
        try:
            async with aiohttp.ClientSession(timeout=timeout) as http:
                while not stop.is_set():
                    batch = await consumer.getmany(timeout_ms=500, max_records=100)
                    for tp, records in batch.items():
                        for record in records:
                            await self._settle(record, http, redis, producer)
                            await consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "")})
        finally:
            await consumer.stop()
            await producer.stop()
            await redis.aclose()

    async def _settle(
        self,
        record: ConsumerRecord,
        http: aiohttp.ClientSession,
        redis: Redis,
        producer: AIOKafkaProducer,
    ) -> None:
        """Deliver, skip or dead-letter one record; returns only when it may be committed."""
        value: bytes = record.value or b""
        try:
            alert = orjson.loads(value)
            alert_id = alert["alert_id"]
            if not isinstance(alert_id, str) or not alert_id:
                raise TypeError("alert_id")
            body = render(alert, self.options.format)
        except (orjson.JSONDecodeError, LookupError, TypeError, ValueError, AttributeError):
            # anything may be written to the topic; what is not an alert must not stop the sink
            await self._dead_letter(producer, record, "invalid-alert", "not an alert JSON object")
            return
        if alert.get("kind", "hot") != "hot" and not self.options.include_cooled:
            return
        key = self._dedupe_key(alert_id)
        if not await self._claim(redis, key):
            self.duplicates += 1
            log.info("alert %s was already delivered; skipped", alert_id)
            return
        try:
            await self._post(http, alert_id, body)
        except DeliveryFailed as failure:
            await redis.delete(key)
            await self._dead_letter(producer, record, failure.reason, failure.detail)
            return
        await redis.set(key, _SENT, ex=self.options.sent_ttl)
        self.delivered += 1
        log.info("alert %s delivered", alert_id)

    async def _claim(self, redis: Redis, key: str) -> bool:
        """True when this sink may post the alert; False when it was already sent.

        A claim held by another sink (during a rebalance) is waited out: it ends as sent, or
        expires when that sink died mid-post, and then this one takes over.
        """
        while True:
            if await redis.set(key, _PENDING, nx=True, ex=self.options.claim_ttl):
                return True
            state = await redis.get(key)
            if state == _SENT:
                return False
            if state is None:
                continue
            await asyncio.sleep(min(1.0, self.options.claim_ttl / 10))

    async def _post(self, http: aiohttp.ClientSession, alert_id: str, body: Any) -> None:
        delays = backoff_delays(self.options)
        headers = {"Content-Type": "application/json", "Idempotency-Key": alert_id}
        problem = ""
        for attempt in range(self.options.max_attempts):
            try:
                async with http.post(
                    self.options.url, data=orjson.dumps(body), headers=headers
                ) as resp:
                    if resp.status < 300:
                        return
                    problem = f"HTTP {resp.status}"
                    if resp.status < 500 and resp.status not in _RETRYABLE_STATUS:
                        raise DeliveryFailed("webhook-rejected", f"{problem} (not retried)")
            except (aiohttp.ClientError, TimeoutError) as exc:
                problem = type(exc).__name__
            if attempt < len(delays):
                log.warning(
                    "alert %s: attempt %d failed (%s); retrying in %.2fs",
                    alert_id,
                    attempt + 1,
                    problem,
                    delays[attempt],
                )
                await asyncio.sleep(delays[attempt])
        raise DeliveryFailed(
            "webhook-failed", f"{problem} after {self.options.max_attempts} attempts"
        )

    async def _dead_letter(
        self, producer: AIOKafkaProducer, record: ConsumerRecord, reason: str, detail: str
    ) -> None:
        letter = dead_letter(
            record.value,
            record.key,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            reason=reason,
            detail=detail,
            limit=self.settings.dead_letter_max_bytes,
        )
        await producer.send_and_wait(
            self.settings.topics.dlq,
            value=letter.value,
            key=letter.key,
            headers=list(letter.headers),
        )
        self.dead_lettered += 1
        log.warning(
            "alert at %s:%d:%d dead-lettered: %s (%s)",
            record.topic,
            record.partition,
            record.offset,
            reason,
            detail,
        )
