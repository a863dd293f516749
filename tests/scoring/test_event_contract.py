"""One event contract: the pydantic model, the fast path's hand checks and the JSON Schema agree.

The model is the source. The schema is generated from it (and the shipped file is compared with
the generation in test_events.py); the fast path declares which fields it checks, and that set is
held to the model's. So a field added to ``Event`` alone fails here rather than being accepted
unchecked by ``quick_fields`` or missing from what producers are told.
"""

from __future__ import annotations

import pytest

from scoring.events import QUICK_CHECKED_FIELDS, Event, event_json_schema


def test_the_fast_path_checks_every_field_of_the_model() -> None:
    assert set(Event.model_fields) == QUICK_CHECKED_FIELDS


def test_the_schema_names_exactly_the_model_fields_and_its_required_ones() -> None:
    schema = event_json_schema()
    assert list(schema["properties"]) == list(Event.model_fields)
    assert schema["required"] == [n for n, f in Event.model_fields.items() if f.is_required()]
    limit = Event.model_fields["lead_id"].metadata
    assert schema["properties"]["lead_id"]["maxLength"] in [m.max_length for m in limit[1:]]


def test_a_field_added_to_the_model_alone_is_caught() -> None:
    class Wider(Event):
        referrer: str | None = None

    with pytest.raises(KeyError, match=r"Event\.referrer has no wire schema"):
        event_json_schema(Wider)
    assert set(Wider.model_fields) != QUICK_CHECKED_FIELDS
