"""Rescoring every stored lead after a model change: one alert per lead it moves, none twice.

Hermetic: the leads live in the in-memory store, which keeps the Redis store's contract (the
delivery contract tests hold both to it), and the processor is the worker's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from scoring.engine import cools_at
from scoring.model import Model, parse_model
from streams.kafka.messages import Channel, OutMessage
from streams.observability.metrics import Metrics
from streams.state.memory_store import MemoryLeadStore, MemoryServer
from streams.worker.processor import Processor
from streams.worker.rescore import rescore
from tests.support.events import T0, event
from tests.support.processing import records
from tests.support.rollout import rollout_model

NOW = (T0 + timedelta(hours=1)).timestamp()


def _model(hot: int, rearm: int) -> Model:
    return parse_model(rollout_model(1, hot, rearm))


def _processor(server: MemoryServer, model: Model) -> Processor:
    return Processor(MemoryLeadStore(server), [model], Metrics(), 65536, clock=lambda: NOW)


class Sent:
    """What a rescore published, as Kafka would have it."""

    def __init__(self) -> None:
        self.alerts: list[dict[str, object]] = []

    async def __call__(self, messages: Sequence[OutMessage]) -> None:
        self.alerts += [orjson.loads(m.value) for m in messages if m.channel is Channel.HOT]


async def _stored(server: MemoryServer) -> None:
    """Five leads scoring 50, 70, 70, 80 and 90, stored by the worker's processor under a hot
    threshold of 80: two of them hot."""
    raw = []
    for lead, views in (("l50", 5), ("l70", 7), ("l79", 7), ("l80", 8), ("l90", 9)):
        raw += [event("page_view", T0 + timedelta(minutes=i), lead, path="/pricing")
                for i in range(views)]  # fmt: skip
    processor = _processor(server, _model(80, 70))
    outcome = await processor.process(records(raw))
    await processor.confirm(outcome)
    hot = {orjson.loads(m.value)["lead_id"] for m in outcome.messages if m.channel is Channel.HOT}
    assert hot == {"l80", "l90"}


async def test_a_lowered_threshold_announces_each_lead_it_makes_hot_once() -> None:
    server = MemoryServer()
    await _stored(server)
    sent = Sent()
    report = await rescore(MemoryLeadStore(server), _processor(server, _model(70, 60)), sent)
    assert report.leads == 5
    assert sorted((a["lead_id"], a["kind"]) for a in sent.alerts) == [
        ("l70", "hot"),
        ("l79", "hot"),
    ]  # l80 and l90 were hot already: not announced again
    assert all(a["crossing"] == 1 for a in sent.alerts)
    again = Sent()
    await rescore(MemoryLeadStore(server), _processor(server, _model(70, 60)), again, batch=2)
    assert again.alerts == []  # a second rescore (or a resumed one) sends nothing


async def test_a_rescore_writes_only_the_leads_whose_outcome_moved() -> None:
    """Leads the new threshold leaves where they were keep their record as it was (no write, no
    score message); the moved ones are written once."""
    server = MemoryServer()
    await _stored(server)
    before = dict(server.records)
    sent: list[OutMessage] = []

    async def send(messages: Sequence[OutMessage]) -> None:
        sent.extend(messages)

    await rescore(MemoryLeadStore(server), _processor(server, _model(70, 60)), send)
    changed = {lead for lead, data in server.records.items() if data != before[lead]}
    assert changed == {"l70", "l79"}
    assert {m.key.decode() for m in sent} == {"l70", "l79"}  # their alert and score change
    assert sorted(m.channel.value for m in sent) == ["hot", "hot", "scores", "scores"]
    again = dict(server.records)
    await rescore(MemoryLeadStore(server), _processor(server, _model(70, 60)), send)
    assert server.records == again  # nothing left to write


async def test_a_raised_threshold_cools_each_lead_below_it_once() -> None:
    server = MemoryServer()
    await _stored(server)
    sent = Sent()
    await rescore(MemoryLeadStore(server), _processor(server, _model(95, 92)), sent, batch=1)
    assert sorted((a["lead_id"], a["kind"]) for a in sent.alerts) == [
        ("l80", "cooled"),
        ("l90", "cooled"),
    ]
    again = Sent()
    await rescore(MemoryLeadStore(server), _processor(server, _model(95, 92)), again)
    assert again.alerts == []


async def test_an_interrupted_rescore_resends_with_the_same_ids() -> None:
    """The send fails after the write: the outbox keeps the alert, and running again sends it
    with the id it had, so consumers drop the copy if the first send did land."""
    server = MemoryServer()
    await _stored(server)

    lost = Sent()

    async def broken(messages: Sequence[OutMessage]) -> None:
        await lost(messages)  # what would have gone out, had the broker answered
        raise ConnectionError("broker gone")

    processor = _processor(server, _model(70, 60))
    with pytest.raises(ConnectionError):
        await rescore(MemoryLeadStore(server), processor, broken, batch=10)
    assert len(lost.alerts) == 2
    sent = Sent()
    await rescore(MemoryLeadStore(server), _processor(server, _model(70, 60)), sent)
    assert sorted(str(a["alert_id"]) for a in sent.alerts) == sorted(
        str(a["alert_id"]) for a in lost.alerts
    )


def _decaying(version: int, hot: int, rearm: int) -> Model:
    """The roll-out model with engagement halving every 30 days, so hot leads cool by decay."""
    text = rollout_model(version, hot, rearm).replace("rate: 0.0", "rate: 0.5")
    return parse_model(text)


async def test_a_rescore_keeps_a_cooling_time_unless_the_lead_now_cools_sooner() -> None:
    server = MemoryServer()
    raw = [event("page_view", T0 + timedelta(minutes=i), "l90", path="/pricing") for i in range(9)]
    first = _processor(server, _decaying(1, 80, 70))
    await first.confirm(await first.process(records(raw)))
    scheduled = server.cooling["l90"]

    async def send(messages: Sequence[OutMessage]) -> None:
        pass

    # a lower re-arm level cools it later: the time kept, the tick will find it hot then
    await rescore(MemoryLeadStore(server), _processor(server, _decaying(2, 80, 60)), send)
    assert server.cooling["l90"] == scheduled
    # a higher one (still under its score) cools it sooner: found anew
    sooner = _decaying(3, 95, 85)
    await rescore(MemoryLeadStore(server), _processor(server, sooner), send)
    lead = (await MemoryLeadStore(server).load(["l90"]))["l90"]
    expected = cools_at(lead.state("rollout"), sooner, datetime.fromtimestamp(NOW, UTC))
    assert lead.state("rollout").hot and expected is not None
    assert server.cooling["l90"] == expected.timestamp() < scheduled
