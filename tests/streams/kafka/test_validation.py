"""The HTTP API and ``leadscore produce`` judge events by the worker's rules (issue 11): what
:func:`streams.kafka.publisher.validate` accepts, :func:`streams.kafka.codec.decode` accepts,
and one item never makes validation raise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from streams.kafka.codec import Rejection, decode
from streams.kafka.publisher import validate

NOW = datetime(2026, 11, 1, tzinfo=UTC)
MAX_BYTES = 64 * 1024
DEEP = "__deep__"


def event(**changes: Any) -> dict[str, Any]:
    base = {
        "event_id": "e1",
        "lead_id": "l1",
        "type": "page_view",
        "occurred_at": "2026-10-31T12:00:00Z",
        "properties": {"path": "/pricing"},
    }
    return {**base, **changes}


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_an_event_more_than_a_day_ahead_is_refused_by_index() -> None:
    items = [
        event(event_id="soon", occurred_at=(NOW + timedelta(hours=23)).isoformat()),
        event(event_id="later", occurred_at=(NOW + timedelta(days=1, minutes=1)).isoformat()),
    ]
    good, bad = validate(items, MAX_BYTES, now=NOW)
    assert [e.event_id for e, _ in good] == ["soon"]
    assert [e.index for e in bad] == [1] and "future" in bad[0].reason


def test_without_now_the_current_time_is_the_limit() -> None:
    ahead = datetime.now(UTC) + timedelta(days=2)
    _, bad = validate([event(occurred_at=ahead.isoformat())], MAX_BYTES)
    assert [e.index for e in bad] == [0]


@pytest.mark.parametrize(
    "item",
    [
        event(event_id=nested(256)),
        event(properties={"path": "/", "x": nested(256)}),
        nested(256),
        {"a": nested(300)},
        event(occurred_at="0001-01-01T00:00:00+01:00"),  # before datetime's range in UTC
        event(occurred_at="9999-12-31T23:59:59-01:00"),  # after it
    ],
    ids=["event_id", "properties", "list", "object", "year-0", "year-10000"],
)
def test_no_item_makes_validation_raise(item: Any) -> None:
    good, bad = validate([event(event_id="a"), item, event(event_id="b")], MAX_BYTES, now=NOW)
    assert [e.event_id for e, _ in good] == ["a", "b"]
    assert [e.index for e in bad] == [1] and bad[0].reason


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8)
)
stamps = st.one_of(
    st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=3)).map(
        lambda d: (NOW + d).isoformat()
    ),
    st.text(max_size=30),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]),
)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.fixed_dictionaries(
        {},
        optional={
            "event_id": st.one_of(st.text(max_size=5), json_scalars, st.just(DEEP)),
            "lead_id": st.one_of(st.text(min_size=1, max_size=5), json_scalars),
            "type": st.sampled_from(["page_view", "profile_updated", "telepathy", DEEP]),
            "occurred_at": stamps,
            "properties": st.dictionaries(
                st.sampled_from(["path", "url", "email", "x"]),
                st.one_of(json_scalars, st.just(DEEP)),
                max_size=3,
            ),
        },
    ),
    depth=st.integers(1, 1100),
)
@example(fields={"event_id": DEEP}, depth=256)
@example(fields={"properties": {"path": DEEP}}, depth=256)
@example(fields=event(occurred_at=(NOW + timedelta(days=2)).isoformat()), depth=1)
def test_validation_agrees_with_the_worker(fields: dict[str, Any], depth: int) -> None:
    """The same bytes get the same verdict from the API's validation and from the worker's, and
    the already decoded form (what ``POST /events`` validates) gets it too, whatever it holds."""
    text = orjson.dumps(fields).replace(f'"{DEEP}"'.encode(), b"[" * depth + b"]" * depth)
    try:
        worker_accepts = not isinstance(decode(text, MAX_BYTES, NOW), Rejection)
    except OverflowError:  # parse_event's own bug, reported in issue 11; the worker is not ours
        worker_accepts = False
    good, bad = validate([text], MAX_BYTES, now=NOW)
    assert (len(good), len(bad)) == ((1, 0) if worker_accepts else (0, 1))
    try:
        decoded = orjson.loads(text)
    except orjson.JSONDecodeError:
        return
    good, bad = validate([decoded], MAX_BYTES, now=NOW)
    assert (len(good), len(bad)) == ((1, 0) if worker_accepts else (0, 1))
