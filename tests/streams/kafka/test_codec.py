"""Which messages become events and which become dead letters, and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from streams.kafka.codec import Rejection, RejectReason, decode

NOW = datetime(2026, 11, 1, tzinfo=UTC)
GOOD = {
    "event_id": "e1",
    "lead_id": "l1",
    "type": "page_view",
    "occurred_at": "2026-10-31T12:00:00Z",
    "properties": {"path": "/pricing"},
}


def test_a_valid_event_decodes() -> None:
    event = decode(orjson.dumps(GOOD), 1024, NOW)
    assert not isinstance(event, Rejection)
    assert (event.lead_id, event.type.value) == ("l1", "page_view")


@pytest.mark.parametrize(
    ("value", "reason", "mentions"),
    [
        (None, RejectReason.EMPTY, "no value"),
        (b"", RejectReason.EMPTY, "no value"),
        (b"{oops", RejectReason.NOT_JSON, "JSON"),
        (b"\xff\xfe", RejectReason.NOT_JSON, "JSON"),
        (b"[1, 2]", RejectReason.INVALID, "object"),
        (
            orjson.dumps({**GOOD, "occurred_at": "2026-10-31T12:00:00"}),
            RejectReason.INVALID,
            "occurred_at",
        ),
        (
            orjson.dumps({k: v for k, v in GOOD.items() if k != "lead_id"}),
            RejectReason.INVALID,
            "lead_id",
        ),
        (orjson.dumps({**GOOD, "type": "telepathy"}), RejectReason.INVALID, "type"),
        (
            orjson.dumps({**GOOD, "occurred_at": (NOW + timedelta(days=3)).isoformat()}),
            RejectReason.INVALID,
            "future",
        ),
        (b"[" * 5000 + b"]" * 5000, RejectReason.TOO_LARGE, "limit"),
    ],
)
def test_bad_input_is_rejected_with_a_reason(
    value: bytes | None, reason: RejectReason, mentions: str
) -> None:
    result = decode(value, 8192, NOW)
    assert isinstance(result, Rejection)
    assert result.reason is reason
    assert mentions in result.detail


def test_size_limit_is_checked_before_parsing() -> None:
    value = orjson.dumps({**GOOD, "properties": {"path": "/" + "x" * 300}})
    assert not isinstance(decode(value, len(value), NOW), Rejection)
    rejected = decode(value, len(value) - 1, NOW)
    assert isinstance(rejected, Rejection) and rejected.reason is RejectReason.TOO_LARGE
