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
from hypothesis import strategies as st

from scoring.events import EARLIEST, FUTURE_TOLERANCE, Event, parse_time, quick_fields
from streams import codec
from streams.codec import Rejection, RejectReason, decode

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
LIMIT = 64 * 1024
VALID = {
    "event_id": "e-1",
    "lead_id": "l-1",
    "type": "page_view",
    "occurred_at": "2026-11-30T10:00:00Z",
    "properties": {"path": "/pricing"},
}

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def rfc3339_at_the_edges(draw: st.DrawFn) -> str:
    """Well-formed RFC 3339 text anywhere on the calendar, in any zone, in any spelling."""
    year = draw(st.one_of(st.integers(1, 9999), st.sampled_from([1, 1999, 2000, 9999])))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 31))  # 31 February is RFC 3339's shape, not a real date
    hour, minute = draw(st.integers(0, 24)), draw(st.integers(0, 59))
    second = draw(st.integers(0, 60))
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".123456789"]))
    sign = draw(st.sampled_from("+-"))
    zone = draw(
        st.one_of(
            st.sampled_from(["Z", "z", "+00:00", "-00:00"]),
            st.tuples(st.integers(0, 24), st.integers(0, 59)).map(
                lambda hm: f"{sign}{hm[0]:02d}:{hm[1]:02d}"
            ),
        )
    )
    separator = draw(st.sampled_from("Tt "))
    return (
        f"{year:04d}-{month:02d}-{day:02d}{separator}"
        f"{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
    )


near_rfc3339 = st.one_of(
    st.sampled_from(
        [
            "2026-W49-2T10:00:00Z",  # ISO 8601 week date
            "2026-12-01T10:00:00.Z",  # a dot without digits
            "20261201T100000Z",  # ISO 8601 basic format
            "2026-12-01T10:00Z",  # no seconds
            "2026-12-01T10:00:00+0530",  # offset without a colon
            "2026-12-01T10:00:00+05:30:15",  # offset with seconds
            "2026-335T10:00:00Z",  # ordinal date
            "2026-12-01T10:00:00",  # no zone
            "\uff12\uff10\uff12\uff16-12-01T10:00:00Z",  # full-width digits
        ]
    ),
    rfc3339_at_the_edges().flatmap(
        lambda t: st.integers(0, len(t) - 1).map(lambda i: t[:i] + t[i + 1 :])
    ),
    st.text(max_size=40),
)

fields = st.sampled_from(["event_id", "lead_id", "type", "occurred_at", "account_id", "properties"])
near_valid = st.one_of(
    st.tuples(fields, json_value).map(lambda fv: {**VALID, fv[0]: fv[1]}),
    fields.map(lambda f: {k: v for k, v in VALID.items() if k != f}),
    st.one_of(rfc3339_at_the_edges(), near_rfc3339).map(lambda t: {**VALID, "occurred_at": t}),
    st.dictionaries(st.text(max_size=10), json_value, max_size=3).map(
        lambda p: {**VALID, "properties": {**VALID["properties"], **p}}
    ),
    st.dictionaries(st.text(max_size=12), json_value, max_size=3).map(lambda x: {**VALID, **x}),
)

message = st.one_of(
    st.binary(max_size=300),
    json_value.map(orjson.dumps),
    near_valid.map(orjson.dumps),
    st.integers(1, 5000).map(lambda d: b"[" * d + b"]" * d),
    st.integers(1, 400).map(
        lambda d: orjson.dumps({**VALID, "event_id": "x"}).replace(b'"x"', b"[" * d + b"]" * d)
    ),
)


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
