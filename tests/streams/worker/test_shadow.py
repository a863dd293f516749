"""The shadow model in the processor: its would-be alerts go to their own channel, under its own
name and ids, and leave the active model's state and alerts as they were.

Hermetic (the in-memory store keeps the Redis store's contract); the same on real Kafka and Redis
is in tests/streams/cli/test_model_reload.py.
"""

from __future__ import annotations

from datetime import timedelta

import orjson

from scoring.model import Model, parse_model
from streams.kafka.messages import Channel
from streams.observability.metrics import Metrics
from streams.state.memory_store import MemoryLeadStore, MemoryServer
from streams.worker.processor import BatchOutcome, Processor
from tests.support.events import T0, event
from tests.support.processing import records
from tests.support.rollout import rollout_model

NOW = (T0 + timedelta(hours=1)).timestamp()


def _model(version: int, hot: int, rearm: int) -> Model:
    return parse_model(rollout_model(version, hot, rearm))


def _processor(server: MemoryServer, shadow: Model | None, metrics: Metrics) -> Processor:
    return Processor(
        MemoryLeadStore(server), [_model(1, 80, 70)], metrics, 65536, lambda: NOW, shadow=shadow
    )


def _sent(outcome: BatchOutcome, channel: Channel) -> list[dict[str, object]]:
    return [orjson.loads(m.value) for m in outcome.messages if m.channel is channel]


def _views(lead: str, n: int) -> list[dict[str, object]]:
    return [
        event("page_view", T0 + timedelta(minutes=i), lead, f"{lead}-{i}", path="/pricing")
        for i in range(n)
    ]


async def test_the_shadow_alerts_on_its_own_channel_under_its_own_name() -> None:
    server, metrics = MemoryServer(), Metrics()
    processor = _processor(server, _model(2, 70, 60), metrics)
    raw = _views("l75", 7) + _views("l90", 9)
    outcome = await processor.process(records(raw))
    await processor.confirm(outcome)
    hot, shadow = _sent(outcome, Channel.HOT), _sent(outcome, Channel.SHADOW)
    assert [(a["lead_id"], a["model"]) for a in hot] == [("l90", "rollout")]
    assert sorted((a["lead_id"], a["model"], a["kind"]) for a in shadow) == [
        ("l75", "shadow.rollout", "hot"),
        ("l90", "shadow.rollout", "hot"),
    ]
    ids = {a["alert_id"] for a in hot} | {a["alert_id"] for a in shadow}
    assert len(ids) == 3  # never the id of the active model's alert for the same crossing
    assert all(
        m.channel is not Channel.SCORES or b"shadow" not in m.value for m in outcome.messages
    )
    text = metrics.exposition().decode()
    assert 'leadscore_transitions_total{kind="hot",model="rollout",role="active"} 1.0' in text
    assert (
        'leadscore_transitions_total{kind="hot",model="shadow.rollout",role="shadow"} 2.0' in text
    )


async def test_the_shadow_leaves_the_active_state_alone_and_redelivery_sends_nothing() -> None:
    raw = _views("l75", 7) + _views("l90", 9)
    alone = MemoryServer()
    plain = _processor(alone, None, Metrics())
    await plain.confirm(await plain.process(records(raw)))
    server = MemoryServer()
    processor = _processor(server, _model(2, 70, 60), Metrics())
    await processor.confirm(await processor.process(records(raw)))
    for lead in ("l75", "l90"):
        with_shadow = (await MemoryLeadStore(server).load([lead]))[lead]
        without = (await MemoryLeadStore(alone).load([lead]))[lead]
        assert with_shadow.states["rollout"].to_bytes() == without.states["rollout"].to_bytes()
        assert with_shadow.summaries["rollout"] == without.summaries["rollout"]
        assert "shadow.rollout" in with_shadow.states
    again = await processor.process(records(raw))  # the whole batch redelivered
    assert again.messages == []
