"""Output messages: ids that survive redelivery, dead letters that keep the original bytes."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.accounts import AccountState, Member, evaluate_account
from scoring.engine import evaluate
from scoring.model import Calibration, default_model
from scoring.state import LeadState
from streams.kafka.messages import (
    RECORD_OVERHEAD,
    Channel,
    OutMessage,
    account_alert,
    alert,
    dead_letter,
    transition_id,
)


def test_transition_ids_are_deterministic_and_distinct() -> None:
    first = transition_id("lead-1", "default", "hot", 1)
    assert first == transition_id("lead-1", "default", "hot", 1)
    others = {
        transition_id("lead-1", "default", "hot", 2),
        transition_id("lead-1", "default", "cooled", 1),
        transition_id("lead-2", "default", "hot", 1),
        transition_id("lead-1", "enterprise", "hot", 1),
    }
    assert first not in others and len(others) == 4


def test_dead_letter_keeps_bytes_and_says_where_and_why() -> None:
    original = b"\xff not even utf-8"
    message = dead_letter(
        original,
        b"key",
        topic="engagement.emails",
        partition=3,
        offset=42,
        reason="not_json",
        detail="not valid JSON",
        limit=1_000_000,
    )
    assert message.channel is Channel.DLQ
    assert (message.key, message.value) == (b"key", original)
    assert dict(message.headers) == {
        "leadscore.reason": b"not_json",
        "leadscore.detail": b"not valid JSON",
        "leadscore.topic": b"engagement.emails",
        "leadscore.partition": b"3",
        "leadscore.offset": b"42",
    }


def _record_size(message: OutMessage) -> int:
    headers = sum(len(name.encode()) + len(value) + 10 for name, value in message.headers)
    return RECORD_OVERHEAD + len(message.key or b"") + len(message.value) + headers


@settings(max_examples=200, deadline=None)
@given(
    size=st.one_of(st.integers(0, 3000), st.integers(1_040_000, 1_100_000)),
    key_size=st.one_of(st.none(), st.integers(0, 4000)),
    limit=st.integers(16 * 1024, 1_048_576),
    detail=st.text(max_size=5000),
)
def test_a_dead_letter_always_fits_and_names_what_was_cut(
    size: int, key_size: int | None, limit: int, detail: str
) -> None:
    original = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    key = None if key_size is None else b"k" * key_size
    message = dead_letter(
        original, key, topic="t", partition=0, offset=1, reason="too_large", detail=detail,
        limit=limit,
    )  # fmt: skip
    assert _record_size(message) <= limit
    headers = dict(message.headers)
    assert original.startswith(message.value)
    if message.value == original:
        assert "leadscore.truncated" not in headers
    else:
        assert headers["leadscore.truncated"] == str(size).encode()
        assert headers["leadscore.sha256"] == hashlib.sha256(original).hexdigest().encode()
    if key is not None and len(key) > 1024:
        assert headers["leadscore.key_sha256"] == hashlib.sha256(key).hexdigest().encode()


def test_alerts_of_a_calibrated_model_say_what_the_score_means() -> None:
    table = {"base_rate": 0.1, "leads": 50, "bands": [{"min": 0, "rate": 0.02},
             {"min": 60, "rate": 0.3}]}  # fmt: skip
    model = default_model().model_copy(
        update={"calibration": Calibration.model_validate(table), "base": 70.0}
    )
    score = evaluate(LeadState.new("lead-9"), model, datetime(2026, 11, 1, tzinfo=UTC))
    hot = alert(score, 1, None, datetime(2026, 11, 1, tzinfo=UTC))
    assert (hot["score"], hot["expected_conversion"], hot["base_rate"]) == (70, 0.3, 0.1)
    plain = evaluate(LeadState.new("lead-9"), default_model(), datetime(2026, 11, 1, tzinfo=UTC))
    assert "expected_conversion" not in alert(plain, 1, None, datetime(2026, 11, 1, tzinfo=UTC))


def test_account_alert_ids_come_from_account_model_and_crossing() -> None:
    now = datetime(2026, 3, 2, tzinfo=UTC)
    account = AccountState("acct-1")
    for n in range(3):
        account.update(Member(f"lead-{n}", 50, 25, now.timestamp(), {}))
    score = evaluate_account(account, default_model(), now)
    first = account_alert(score, "hot", 1, now, now)
    assert first == account_alert(score, "hot", 1, now, datetime(2027, 1, 1, tzinfo=UTC)) | {
        "emitted_at": first["emitted_at"]
    }
    assert first["alert_id"] != account_alert(score, "hot", 2, now, now)["alert_id"]
    assert first["alert_id"] != account_alert(score, "cooled", 1, now, now)["alert_id"]
    assert first["alert_id"] != transition_id("acct-1", "default", "hot", 1)
    assert set(first) >= {
        "alert_id",
        "kind",
        "crossing",
        "account_id",
        "model",
        "score",
        "engaged_contacts",
        "members",
        "explanation",
        "route",
        "event_time",
        "emitted_at",
    }
    assert first["engaged_contacts"] == 3 and len(first["members"]) == 3
