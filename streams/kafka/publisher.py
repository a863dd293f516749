"""Validating and publishing events, for ``leadscore produce``, ``POST /events`` and
``POST /v1/batch`` (analytics-spec calls, mapped to events here).

Valid events are published as the producer sent them (the original bytes), keyed by ``lead_id``
(``anonymous_id`` for an anonymous visitor), on the topic of their type; invalid ones are reported
and never reach Kafka.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType

import orjson

from scoring.analytics import to_events, wire
from scoring.errors import EventValidationError, Problem
from scoring.events import Event, EventType, parse_event
from streams.kafka.clients import kafka_producer
from streams.kafka.messages import Channel, OutMessage
from streams.kafka.topics import topic_for
from streams.settings import Settings

log = logging.getLogger("leadscore.publisher")


@dataclass(frozen=True, slots=True)
class ItemError:
    """Why item ``index`` (0-based position in what was validated) was refused."""

    index: int
    reason: str


def validate_one(
    raw: bytes | object, max_bytes: int, now: datetime | None = None
) -> tuple[Event, bytes]:
    """Validate one event given as JSON bytes or as an already decoded object.

    The rules are the worker's (:func:`.codec.decode`): the same size limit on the bytes
    that will be published, and :func:`~scoring.events.parse_event` with ``now`` (the current time
    when not given), so nothing is accepted here that the worker would dead-letter.
    """
    if isinstance(raw, bytes):
        data = raw
    else:
        try:
            data = orjson.dumps(raw)
        except orjson.JSONEncodeError:
            # orjson stops at 255 levels of nesting; no event is anywhere near that deep
            raise EventValidationError([Problem("", "nested too deeply")]) from None
    if len(data) > max_bytes:
        reason = f"event is {len(data)} bytes; the limit is {max_bytes}"
        raise EventValidationError([Problem("", reason)])
    return parse_event(data, now=now or datetime.now(UTC)), data


def validate(
    items: Iterable[bytes | object],
    max_bytes: int,
    first_index: int = 0,
    *,
    now: datetime | None = None,
) -> tuple[list[tuple[Event, bytes]], list[ItemError]]:
    """Split items into valid events and errors by index; never raises for what an item holds.

    ``now`` (the current time when not given) is read once, so every item of one call is judged
    against the same clock.
    """
    when = now or datetime.now(UTC)
    good: list[tuple[Event, bytes]] = []
    bad: list[ItemError] = []
    for index, item in enumerate(items, start=first_index):
        try:
            good.append(validate_one(item, max_bytes, when))
        except EventValidationError as err:
            bad.append(ItemError(index, str(err)))
        except Exception as exc:  # a validation bug must cost one item, not the whole request
            log.warning("validating an event raised %s; refused it", type(exc).__name__)
            bad.append(ItemError(index, f"event could not be validated ({type(exc).__name__})"))
    return good, bad


def map_calls(
    items: Iterable[object],
    table: Mapping[str, EventType],
    max_bytes: int,
    *,
    now: datetime | None = None,
) -> tuple[list[tuple[Event, bytes]], list[ItemError], int]:
    """Analytics-spec calls (``scoring.analytics``) as events to publish, the calls refused by
    index, and how many calls were accepted. All or none of a call's events are kept, and each
    within ``max_bytes`` as the worker requires; ``now`` stamps calls without a time."""
    when = now or datetime.now(UTC)
    good: list[tuple[Event, bytes]] = []
    bad: list[ItemError] = []
    accepted = 0
    for index, item in enumerate(items):
        try:
            events = to_events(item, table, when, when)
            encoded = [(event, wire(event)) for event in events]
            for _, data in encoded:
                if len(data) > max_bytes:
                    reason = f"an event of this call is {len(data)} bytes; the limit is {max_bytes}"
                    raise EventValidationError([Problem("", reason)])
        except EventValidationError as err:
            bad.append(ItemError(index, str(err)))
            continue
        except RecursionError:
            bad.append(ItemError(index, "nested too deeply"))
            continue
        except Exception as exc:  # a mapping bug must cost one call, not the whole request
            log.warning("mapping an analytics call raised %s; refused it", type(exc).__name__)
            bad.append(ItemError(index, f"call could not be mapped ({type(exc).__name__})"))
            continue
        good.extend(encoded)
        accepted += 1
    return good, bad, accepted


class Publisher:
    """An idempotent aiokafka producer that routes events to their topics."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        codec = settings.output_compression
        self.producer = kafka_producer(
            settings,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            compression_type=None if codec == "none" else codec,
            max_batch_size=256 * 1024,
            max_request_size=max(settings.max_event_bytes * 2, 1024 * 1024),
        )

    async def __aenter__(self) -> Publisher:
        await self.producer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.producer.stop()

    async def publish(self, events: Sequence[tuple[Event, bytes]]) -> int:
        """Send and wait until Kafka acknowledged every event; returns how many were sent."""
        topics = self.settings.topics
        pending = [
            await self.producer.send(
                topic_for(event.type, topics), value=data, key=event.key.encode()
            )
            for event, data in events
        ]
        await asyncio.gather(*pending)
        return len(pending)

    async def send(self, messages: Sequence[OutMessage]) -> None:
        """Publish the worker's output messages and wait until Kafka acknowledged every one."""
        topics = self.settings.topics
        names = {
            Channel.HOT: topics.hot,
            Channel.SCORES: topics.scores,
            Channel.DLQ: topics.dlq,
            Channel.IDENTITY: topics.identity,
            Channel.ACCOUNT: topics.accounts,
            Channel.ACCOUNTS_HOT: topics.accounts_hot,
            Channel.SHADOW: topics.shadow,
        }
        pending = [
            await self.producer.send(
                names[m.channel], value=m.value, key=m.key, headers=list(m.headers) or None
            )
            for m in messages
        ]
        await asyncio.gather(*pending)
