from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.errors import EventValidationError, Problem
from scoring.events import EventType, event_json_schema, parse_event, quick_parse
from tests.support.events import event, profile


def problems(raw: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(EventValidationError) as info:
        parse_event(raw, **kwargs)
    return {p.location: p.reason for p in info.value.problems}


def test_valid_event_is_parsed_and_time_normalised_to_utc() -> None:
    raw = event("page_view", path="/pricing")
    raw["occurred_at"] = "2026-03-02T11:00:00+02:00"
    parsed = parse_event(orjson.dumps(raw))
    assert parsed.type is EventType.PAGE_VIEW
    assert parsed.occurred_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert parsed.occurred_at.tzinfo is UTC
    assert parsed.properties == {"path": "/pricing"}
    assert parse_event(json.dumps(raw)) == parsed == parse_event(raw)


def test_every_problem_is_named_by_field() -> None:
    raw = {"event_id": "", "lead_id": "x" * 201, "type": "telepathy", "occurred_at": "yesterday"}
    assert problems(raw) == {
        "event_id": "must not be empty",
        "lead_id": "must be at most 200 characters",
        "type": "must be one of: " + ", ".join(t.value for t in EventType),
        "occurred_at": "must be RFC 3339 with a time zone",
    }


def test_error_message_reads_location_colon_reason() -> None:
    raw = profile(company_size="big")
    raw["occurred_at"] = "2026-03-02T09:00:00"
    with pytest.raises(EventValidationError) as info:
        parse_event(raw)
    assert str(info.value) == (
        "occurred_at: must be RFC 3339 with a time zone; "
        "properties.company_size: must be a non-negative integer"
    )
    assert info.value.retryable is False
    assert Problem("occurred_at", "must be RFC 3339 with a time zone") in info.value.problems


@pytest.mark.parametrize(
    ("change", "location", "reason"),
    [
        ({"occurred_at": "2026-03-02"}, "occurred_at", "must be RFC 3339 with a time zone"),
        ({"occurred_at": 1772442000}, "occurred_at", "must be RFC 3339 with a time zone"),
        ({"occurred_at": "1999-12-31T23:59:59Z"}, "occurred_at", "must not be before 2000-01-01"),
        ({"lead_id": 42}, "lead_id", "must be a string"),
        ({"account_id": ""}, "account_id", "must not be empty"),
        ({"properties": []}, "properties", "must be an object"),
        ({"extra": 1}, "extra", "is not part of the event contract"),
    ],
)
def test_field_errors(change: dict[str, Any], location: str, reason: str) -> None:
    raw = {**event("email_opened"), **change}
    assert problems(raw)[location] == reason


def test_missing_fields_are_required() -> None:
    assert problems({"event_id": "e"}) == {
        "lead_id": "is required",
        "type": "is required",
        "occurred_at": "is required",
    }


def test_properties_must_be_flat() -> None:
    found = problems(event("email_clicked", link={"href": "/x"}, tags=["a", 1], ok=["a", "b"]))
    assert set(found) == {"properties.link", "properties.tags"}


def test_page_view_needs_url_or_path() -> None:
    assert "properties.path" in problems(event("page_view", page_category="pricing"))
    assert parse_event(event("page_view", url="https://x.example/pricing"))


def test_profile_attribute_types() -> None:
    found = problems(profile(company_size=True, seniority="boss", email="nobody", job_title=7))
    assert set(found) == {
        "properties.company_size",
        "properties.seniority",
        "properties.email",
        "properties.job_title",
    }
    ok = parse_event(profile(company_size=12, seniority="vp", lead_source="webinar", score_x=1.5))
    assert ok.properties["lead_source"] == "webinar"


def test_quick_parse_returns_the_fields_of_a_plain_event() -> None:
    raw = event("page_view", path="/pricing", event_id="e-1")
    raw["account_id"] = "acct-9"
    slow = parse_event(raw)
    assert quick_parse(orjson.dumps(raw)) == (
        "e-1",
        "lead-1",
        "page_view",
        slow.occurred_at.timestamp(),
        {"path": "/pricing"},
    )
    assert quick_parse(b"{") is None


def test_bad_json_and_non_objects() -> None:
    assert list(problems(b"{nope")) == [""]
    assert problems("[1, 2]") == {"": "an event must be a JSON object"}


def test_future_events_are_rejected_only_relative_to_now() -> None:
    raw = event("email_opened", at=datetime(2026, 3, 5, tzinfo=UTC))
    now = datetime(2026, 3, 3, tzinfo=UTC)
    assert problems(raw, now=now) == {"occurred_at": "is more than one day in the future"}
    assert parse_event(raw, now=now + timedelta(days=1))
    assert parse_event(raw)


def test_shipped_schema_matches_the_generated_one() -> None:
    text = (Path(__file__).parents[2] / "scoring" / "schema" / "event.schema.json").read_text()
    assert json.loads(text) == event_json_schema()


# --- the offline fast path must never accept what the contract rejects ----------------------

_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**4),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.text(max_size=3), max_size=2),
    st.dictionaries(st.text(max_size=2), st.none()),
)
_stamps = st.one_of(
    st.sampled_from(
        [
            "2026-03-02T09:00:00Z",
            "2026-03-02T09:00:00",
            "2026-03-02",
            "1999-01-01T00:00:00Z",
            "2026-03-02 09:00:00+01:00",
            "2026-13-02T09:00:00Z",
            "2030-01-01T00:00:00Z",
        ]
    ),
    st.text(max_size=25),
    st.integers(-9, 9),
)
_events = st.fixed_dictionaries(
    {
        "event_id": st.one_of(st.text(min_size=1, max_size=3), st.integers(-9, 9)),
        "lead_id": st.one_of(st.text(max_size=3), st.none()),
        "type": st.sampled_from([*(t.value for t in EventType), "nope", 1]),
        "occurred_at": _stamps,
        "properties": st.one_of(
            st.dictionaries(
                st.sampled_from(["path", "url", "company_size", "seniority", "email", "x"]),
                _values,
            ),
            st.integers(-9, 9),
        ),
    },
    optional={"account_id": st.one_of(st.none(), st.text(max_size=2)), "other": st.none()},
)


@settings(max_examples=400, deadline=None)
@given(_events)
def test_quick_parse_accepts_only_what_parse_event_accepts(raw: dict[str, Any]) -> None:
    line = json.dumps(raw)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    fast = quick_parse(line, now.timestamp())
    try:
        slow = parse_event(line, now=now)
    except EventValidationError:
        assert fast is None
        return
    if fast is not None:
        assert fast == (
            slow.event_id,
            slow.lead_id,
            slow.type.value,
            slow.occurred_at.timestamp(),
            slow.properties,
        )
