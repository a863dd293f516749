"""The bytes of a lead in Redis: everything survives the round trip, and the version leads."""

from __future__ import annotations

from datetime import UTC, datetime

from scoring.engine import apply_event
from scoring.events import parse_event
from scoring.model import default_model
from streams.record import StoredLead, decode, encode
from tests.streams.test_pipeline import seed_hot_lead


def test_round_trip_with_several_models_history_and_outbox() -> None:
    lead = StoredLead("lead-7", 0)
    model = default_model()
    for raw in seed_hot_lead("lead-7", datetime.now(UTC)):
        apply_event(lead.state("default"), parse_event(raw), model)
    lead.state("enterprise").crossings = 3
    lead.summaries = {"default": "85|A1|1", "enterprise": "40|B3|0"}
    lead.history = [[1795434407, "webinar_attended", 85, "A1", 1, 40, "B3", 0]]

    data = encode(lead, 12)
    assert data.startswith(b"12\n")  # what the compare-and-set script reads
    again = decode("lead-7", data, b'[["hot", "{}"]]')
    assert again.version == 12
    assert again.states == lead.states
    assert again.summaries == lead.summaries
    assert again.history == lead.history
    assert again.outbox == [["hot", "{}"]]


def test_a_lead_never_seen_decodes_empty() -> None:
    lead = decode("nobody", None)
    assert (lead.version, lead.states, lead.history, lead.outbox) == (0, {}, [], [])


def test_record_is_small() -> None:
    lead = StoredLead("lead-7", 0)
    # whole-second timestamps, as producers send them
    for raw in seed_hot_lead("lead-7", datetime.now(UTC).replace(microsecond=0)):
        apply_event(lead.state("default"), parse_event(raw), default_model())
    lead.summaries["default"] = "85|A1|1"
    # 8 events, a 4-attribute profile, no history: 336 bytes today; digests in base85 or the lead
    # id repeated inside the state would push it past the bound
    assert len(encode(lead, 1)) < 345
