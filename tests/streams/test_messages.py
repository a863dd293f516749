"""Output messages: ids that survive redelivery, dead letters that keep the original bytes."""

from __future__ import annotations

from streams.messages import Channel, dead_letter, transition_id


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
