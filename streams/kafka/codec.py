"""From Kafka message bytes to a validated event, or to the reason it goes to the dead-letter topic.

Validation happens once, here; everything downstream trusts the :class:`~scoring.events.Event`.
:func:`decode` is total: whatever bytes arrive, it returns an event or a rejection. A message that
raised instead would be read again after every restart and stop the worker for good.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import orjson

from scoring.analytics import to_events
from scoring.errors import EventValidationError
from scoring.events import Event, EventType, parse_event

log = logging.getLogger("leadscore.codec")


class RejectReason(StrEnum):
    """Why a message was dead-lettered; also the label of the rejection counter (bounded set)."""

    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    INVALID = "invalid"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: RejectReason
    detail: str


def _unreadable(value: bytes | None, max_bytes: int) -> Rejection | None:
    """Why a message is refused before it is read (empty, or over the size limit), if it is."""
    if not value:
        return Rejection(RejectReason.EMPTY, "message has no value")
    if len(value) > max_bytes:
        return Rejection(
            RejectReason.TOO_LARGE, f"message is {len(value)} bytes; the limit is {max_bytes}"
        )
    return None


def decode(value: bytes | None, max_bytes: int, now: datetime | None = None) -> Event | Rejection:
    """Validate one message value; never raises for bad input."""
    unread = _unreadable(value, max_bytes)
    if unread is not None:
        return unread
    assert value is not None  # _unreadable refuses an empty value
    try:
        return parse_event(value, now=now)
    except EventValidationError as err:
        reason = RejectReason.NOT_JSON if _is_json_problem(err) else RejectReason.INVALID
        return Rejection(reason, str(err))
    except RecursionError:
        return Rejection(RejectReason.NOT_JSON, "JSON nested too deeply")
    except Exception as exc:  # a validation gap must cost one message, never the worker
        # Only the error's type is logged: its text may quote the message, which may hold PII.
        log.error("an event could not be validated (%s); dead-lettered", type(exc).__name__)
        return Rejection(RejectReason.INVALID, f"could not be validated ({type(exc).__name__})")


def _is_json_problem(err: EventValidationError) -> bool:
    return any(p.location == "" and p.reason.startswith("not valid JSON") for p in err.problems)


def decode_call(
    value: bytes | None,
    max_bytes: int,
    table: Mapping[str, EventType],
    received_at: float,
    now: datetime | None = None,
) -> list[Event] | Rejection:
    """One analytics-spec call (``scoring.analytics``) as the events it stands for, or the
    reason it is dead-lettered; total, like :func:`decode`. ``received_at`` (the Kafka record's
    time) stamps a call that carries no time of its own, the same on every redelivery."""
    unread = _unreadable(value, max_bytes)
    if unread is not None:
        return unread
    assert value is not None  # _unreadable refuses an empty value
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return Rejection(RejectReason.NOT_JSON, f"not valid JSON ({exc})")
    try:
        return to_events(data, table, datetime.fromtimestamp(received_at, UTC), now)
    except EventValidationError as err:
        return Rejection(RejectReason.INVALID, str(err))
    except RecursionError:
        return Rejection(RejectReason.NOT_JSON, "JSON nested too deeply")
    except Exception as exc:  # a mapping gap must cost one message, never the worker
        log.error("an analytics call could not be mapped (%s); dead-lettered", type(exc).__name__)
        return Rejection(RejectReason.INVALID, f"could not be mapped ({type(exc).__name__})")
