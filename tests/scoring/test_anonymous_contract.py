"""The anonymous-visitor contract: exactly one of lead_id and anonymous_id, and ``identified``.

Producers rely on it (issue 15's Contract section): the model, the fast path and the generated
JSON Schema must agree on it.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from scoring.errors import EventValidationError
from scoring.events import event_json_schema, line_fields, parse_event, quick_fields
from tests.support.events import anonymous, event, identified


def problems(raw: Any) -> dict[str, str]:
    with pytest.raises(EventValidationError) as info:
        parse_event(raw)
    return {p.location: p.reason for p in info.value.problems}


def test_an_anonymous_event_is_keyed_by_its_anonymous_id() -> None:
    parsed = parse_event(anonymous("page_view", "anon-1", path="/pricing"))
    assert (parsed.lead_id, parsed.anonymous_id, parsed.key, parsed.anonymous) == (
        None,
        "anon-1",
        "anon-1",
        True,
    )
    known = parse_event(event("page_view", path="/pricing"))
    assert (known.key, known.anonymous) == ("lead-1", False)


def test_exactly_one_of_lead_id_and_anonymous_id() -> None:
    both = event("page_view", path="/")
    both["anonymous_id"] = "anon-1"
    assert set(problems(both)) == {"anonymous_id"}
    neither = event("page_view", path="/")
    del neither["lead_id"]
    assert problems(neither) == {"lead_id": "is required"}
    neither["type"] = "nothing"  # other problems do not hide the missing id
    assert set(problems(neither)) == {"lead_id", "type"}
    too_long = anonymous("page_view", "a" * 201, path="/")
    assert problems(too_long) == {"anonymous_id": "must be at most 200 characters"}


def test_identified_needs_a_lead_and_the_anonymous_id_it_names() -> None:
    assert set(problems(event("identified"))) == {"properties.anonymous_id"}
    assert set(problems(identified("lead-1", ""))) == {"properties.anonymous_id"}
    by_visitor = anonymous("identified", "anon-1", anonymous_id="anon-1")
    assert problems(by_visitor) == {"lead_id": "is required in an identified event"}
    assert parse_event(identified("lead-1", "anon-1")).properties == {"anonymous_id": "anon-1"}


def test_the_fast_path_agrees_with_the_model_on_anonymous_events() -> None:
    raw = anonymous("page_view", "anon-1", path="/pricing")
    assert quick_fields(raw) is None  # lead-only tuple: declines rather than mislabels
    fields = line_fields(orjson.dumps(raw), raw, None, None)
    assert fields is not None and fields[1:3] == ("anon-1", "page_view") and fields[5] is True
    both = {**raw, "lead_id": "lead-1"}
    with pytest.raises(EventValidationError):
        line_fields(orjson.dumps(both), both, None, None)


def test_the_schema_asks_for_one_of_the_ids() -> None:
    schema = event_json_schema()
    assert "lead_id" not in schema["required"]
    assert schema["oneOf"] == [{"required": ["lead_id"]}, {"required": ["anonymous_id"]}]
