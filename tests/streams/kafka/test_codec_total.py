"""The decode path is total: any bytes end as a validated event or as one rejection with a reason.

Generated input (Hypothesis) covers what no list of cases would: arbitrary bytes, arbitrary JSON,
events one field away from valid, and times at the edges of the calendar in odd zones. Each
example also checks that the offline fast path agrees with the full validation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from scoring.events import EARLIEST, FUTURE_TOLERANCE, Event, parse_time, quick_fields
from streams.kafka import codec
from streams.kafka.codec import Rejection, RejectReason, decode
from tests.support.strategies import VALID, message, rfc3339_at_the_edges

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
LIMIT = 64 * 1024


def check_total(value: bytes) -> None:
    result = decode(value, LIMIT, NOW)
    if isinstance(result, Rejection):
        assert result.reason in set(RejectReason) and result.detail
        return
    assert isinstance(result, Event)
    assert result.occurred_at.tzinfo is UTC
    assert EARLIEST <= result.occurred_at <= NOW + FUTURE_TOLERANCE
    fast = quick_fields(orjson.loads(value), NOW.timestamp())
    if fast is not None:  # the offline fast path accepts a subset, with the same meaning
        assert fast[:3] == (result.event_id, result.lead_id, result.type.value)
        assert fast[3] == result.occurred_at.timestamp()


@settings(max_examples=1500, deadline=None)
@given(message)
def test_any_message_decodes_to_an_event_or_one_rejection(value: bytes) -> None:
    check_total(value)


@settings(max_examples=600, deadline=None)
@given(rfc3339_at_the_edges())
def test_times_at_the_calendar_edges_never_escape_as_errors(stamp: str) -> None:
    check_total(orjson.dumps({**VALID, "occurred_at": stamp}))


@pytest.mark.parametrize(
    ("stamp", "reason"),
    [
        ("9999-12-31T20:00:00-05:00", "must be between 2000-01-01 and 9999-12-31 in UTC"),
        ("0001-01-01T00:30:00+01:00", "must be between 2000-01-01 and 9999-12-31 in UTC"),
        ("2026-W49-2T10:00:00Z", "must be RFC 3339 with a time zone"),
        ("2026-12-01T10:00:00.Z", "must be RFC 3339 with a time zone"),
        ("20261201T100000Z", "must be RFC 3339 with a time zone"),
        ("2026-12-01T10:00:00+05:30:15", "must be RFC 3339 with a time zone"),
    ],
)
def test_the_reported_cases_are_rejected_with_the_field_named(stamp: str, reason: str) -> None:
    result = decode(orjson.dumps({**VALID, "occurred_at": stamp}), LIMIT, NOW)
    assert isinstance(result, Rejection) and result.reason is RejectReason.INVALID
    assert result.detail == f"occurred_at: {reason}"


@pytest.mark.parametrize(
    ("stamp", "utc"),
    [
        ("2026-11-30t10:00:00z", datetime(2026, 11, 30, 10, tzinfo=UTC)),
        ("2026-11-30 10:00:00+05:30", datetime(2026, 11, 30, 4, 30, tzinfo=UTC)),
        ("2026-11-30T10:00:00.123456789-00:00", datetime(2026, 11, 30, 10, 0, 0, 123456, UTC)),
        ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_every_rfc3339_spelling_is_read(stamp: str, utc: datetime) -> None:
    assert parse_time(stamp) == utc


def test_an_unforeseen_error_in_validation_costs_one_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(raw: Any, now: Any = None) -> Any:
        raise KeyError("jane@example.org")

    monkeypatch.setattr(codec, "parse_event", broken)
    result = decode(orjson.dumps(VALID), LIMIT, NOW)
    assert isinstance(result, Rejection) and result.reason is RejectReason.INVALID
    assert result.detail == "could not be validated (KeyError)"  # names the kind, not the text


def test_valid_events_far_ahead_are_refused_only_with_a_clock() -> None:
    ahead = (NOW + timedelta(days=2)).isoformat()
    assert isinstance(decode(orjson.dumps({**VALID, "occurred_at": ahead}), LIMIT, NOW), Rejection)
