"""The processor on the analytics topic, over generated calls (memory stores, no services):
every message becomes its events or exactly one dead letter, and the worker never stops."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.analytics import to_events, track_table
from scoring.errors import EventValidationError
from scoring.model import default_model
from streams.kafka.messages import Channel
from streams.observability.metrics import Metrics
from streams.state.memory_store import MemoryLeadStore
from streams.worker.processor import ConsumedRecord, Processor
from tests.support.strategies import json_value

TOPIC = "t.engagement.analytics"
RECEIVED = datetime(2026, 3, 3, tzinfo=UTC)
TABLE = track_table([default_model()])

_call = st.fixed_dictionaries(
    {"type": st.sampled_from(["page", "track", "identify", "group", "screen"])},
    optional={
        "messageId": st.text(min_size=1, max_size=6),
        "userId": st.sampled_from(["u-1", "u-2", "", 7]),
        "anonymousId": st.sampled_from(["a-1", "a-2"]),
        "groupId": st.sampled_from(["acct-1", None]),
        "event": st.sampled_from([*sorted(TABLE)[:3], "Nope"]),
        "timestamp": st.sampled_from(["2026-03-02T09:00:00Z", "soon"]),
        "properties": st.one_of(st.just({"path": "/pricing"}), json_value),
        "traits": st.one_of(st.just({"employees": 500, "title": "VP"}), json_value),
    },
)
_message = st.one_of(_call.map(orjson.dumps), st.binary(max_size=40))


def _mapped(value: bytes) -> int | None:
    """How many events a message stands for; None when it is refused."""
    try:
        return len(to_events(orjson.loads(value), TABLE, RECEIVED, RECEIVED))
    except (orjson.JSONDecodeError, EventValidationError):
        return None


@settings(max_examples=150, deadline=None)
@given(values=st.lists(_message, min_size=1, max_size=12))
def test_each_call_becomes_its_events_or_one_dead_letter(values: list[bytes]) -> None:
    metrics = Metrics()
    processor = Processor(
        MemoryLeadStore(),
        [default_model()],
        metrics,
        65536,
        clock=RECEIVED.timestamp,
        visitors=MemoryLeadStore(),
        analytics_topic=TOPIC,
    )
    records = [
        ConsumedRecord(TOPIC, 0, offset, None, value, RECEIVED.timestamp())
        for offset, value in enumerate(values)
    ]
    outcome = asyncio.run(processor.process(records))
    expected = [_mapped(v or b"") if v else None for v in values]
    letters = [m for m in outcome.messages if m.channel is Channel.DLQ]
    assert len(letters) == outcome.rejected == sum(n is None for n in expected)
    assert outcome.events == sum(n for n in expected if n is not None)
    offsets = sorted(int(dict(m.headers)["leadscore.offset"]) for m in letters)
    assert offsets == [i for i, n in enumerate(expected) if n is None]
    assert outcome.offsets == {f"{TOPIC}:0": len(values)}
    assert asyncio.run(processor.confirm(outcome))


def test_a_call_without_time_is_stamped_with_the_record_time() -> None:
    stamp = datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp()
    processor = Processor(
        MemoryLeadStore(),
        [default_model()],
        Metrics(),
        65536,
        clock=lambda: stamp + 30 * 86400,  # scored a decay period (15%) after the record
        analytics_topic=TOPIC,
    )
    call: dict[str, Any] = {"type": "track", "userId": "u-1", "event": "Demo Requested"}
    record = ConsumedRecord(TOPIC, 0, 0, b"u-1", orjson.dumps(call), stamp)
    outcome = asyncio.run(processor.process([record, record]))  # redelivered in one batch
    assert outcome.events == 2 and outcome.rejected == 0
    scores = [orjson.loads(m.value) for m in outcome.messages if m.channel is Channel.SCORES]
    assert [(s["lead_id"], s["engagement"]) for s in scores] == [("u-1", 25.5)]  # 30 less 15%
