"""The bytes of a lead in Redis: everything survives the round trip, and the version leads."""

from __future__ import annotations

from datetime import UTC, datetime

from scoring.engine import apply_event
from scoring.events import parse_event
from scoring.model import default_model
from streams.state.record import StoredLead, body, decode, encode
from tests.support.seeds import seed_hot_lead


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


def test_a_record_written_before_compression_still_reads() -> None:
    lead = StoredLead("lead-7", 0)
    for raw in seed_hot_lead("lead-7", datetime.now(UTC)):
        apply_event(lead.state("default"), parse_event(raw), default_model())
    lead.history = [[1795434407, "webinar_attended", 85, "A1", 1]]
    raw = b"4\n" + body(lead)
    assert raw != encode(lead, 4)
    again = decode("lead-7", raw)
    assert (again.version, again.states, again.history) == (4, lead.states, lead.history)


def test_a_lead_never_seen_decodes_empty() -> None:
    lead = decode("nobody", None)
    assert (lead.version, lead.states, lead.history, lead.outbox) == (0, {}, [], [])


def test_record_is_small() -> None:
    lead = StoredLead("lead-7", 0)
    # whole-second timestamps, as producers send them
    for raw in seed_hot_lead("lead-7", datetime.now(UTC).replace(microsecond=0)):
        apply_event(lead.state("default"), parse_event(raw), default_model())
    lead.summaries["default"] = "85|A1|1"
    # 8 events, a 4-attribute profile, no history: 180 bytes today, 334 before compression; the
    # 64 bytes of event-id digests do not compress, so digests as text would not fit either
    assert len(encode(lead, 1)) < 195


def test_identity_links_round_trip_and_records_without_them_read_as_none() -> None:
    lead = StoredLead("lead-7", 0)
    lead.history = [[1795434407, "identified", 40, "B3", 0]]
    plain = encode(lead, 3)
    lead.links = {"anon-1": [1795434407.5, "00ff", None]}
    linked = encode(lead, 3)
    assert decode("lead-7", plain).links == {}
    again = decode("lead-7", linked)
    assert again.links == lead.links and again.history == lead.history


def test_account_data_round_trips_with_or_without_links_and_older_records_read_as_none() -> None:
    lead = StoredLead("lead-8", 0)
    older = encode(lead, 2)
    lead.membership = {"account": ["acme", 1795434407.5, 7], "last": 1795434407.5, "seq": 3}
    alone = decode("lead-8", encode(lead, 2))
    assert alone.membership == lead.membership and alone.links == {} and alone.group == {}
    lead.links = {"anon-1": [1795434407.5, "00ff", "lead-8", None]}
    both = decode("lead-8", encode(lead, 2))
    assert both.links == lead.links and both.membership == lead.membership
    account = StoredLead("acme", 0)
    account.group = {"default": {"hot": 1, "crossings": 2, "members": {}, "left": {}}}
    assert decode("acme", encode(account, 5)).group == account.group
    assert decode("lead-8", older).membership == {}
