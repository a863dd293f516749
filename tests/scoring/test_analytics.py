"""Analytics-spec calls as leadscore events (scoring.analytics): the mapping, its refusals, and
the recorded story that must score as its native telling does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.analytics import event_lines, to_events, track_table
from scoring.errors import EventValidationError, ModelError
from scoring.events import EventType
from scoring.model import default_model, parse_model
from scoring.offline import score_account_lines, score_lines
from tests.support.strategies import json_value

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "analytics"
RECEIVED = datetime(2026, 3, 3, tzinfo=UTC)
AT = datetime(2026, 3, 5, tzinfo=UTC)
TABLE = track_table([default_model()])


def call(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "messageId": "m-1", "timestamp": "2026-03-02T09:00:00Z", **fields}


def test_page_call_is_a_page_view_with_the_path_and_no_query() -> None:
    raw = call("page", anonymousId="a-1", properties={"url": "https://x.example/pricing?e=a@b.c"})
    (found,) = to_events(raw, TABLE, RECEIVED)
    assert found.type is EventType.PAGE_VIEW
    assert found.anonymous_id == "a-1" and found.lead_id is None
    assert found.properties == {"url": "https://x.example/pricing", "path": "/pricing"}
    assert found.event_id == "m-1"


def test_identify_with_both_ids_is_an_identification_and_a_profile_without_personal_traits() -> (
    None
):
    traits = {
        "firstName": "Dana",
        "phone": "+1 555",
        "email": "dana@acme.example",
        "title": "Director",
        "seniority": "Director",
        "company": {"employee_count": "500", "industry": "SaaS", "id": "acct-1"},
        "address": {"street": "1 Main St", "country": "US"},
    }
    raw = call("identify", anonymousId="a-1", userId="u-1", traits=traits)
    link, profile = to_events(raw, TABLE, RECEIVED)
    assert link.type is EventType.IDENTIFIED and link.lead_id == "u-1"
    assert link.properties == {"anonymous_id": "a-1"}
    assert profile.type is EventType.PROFILE_UPDATED and profile.lead_id == "u-1"
    assert profile.properties == {
        "email": "dana@acme.example",
        "job_title": "Director",
        "seniority": "director",
        "company_size": 500,
        "industry": "SaaS",
        "country": "US",
    }
    assert link.account_id == profile.account_id == "acct-1"
    assert {link.event_id, profile.event_id} == {"m-1:identified", "m-1:traits"}


def test_group_call_makes_the_account_and_its_traits_firmographics() -> None:
    traits = {
        "name": "Acme",
        "employees": "1200",
        "industry": "Software",
        "email": "x@acme.example",
    }
    (found,) = to_events(
        call("group", userId="u-1", groupId="acct-9", traits=traits), TABLE, RECEIVED
    )
    assert found.type is EventType.PROFILE_UPDATED and found.account_id == "acct-9"
    # the group's e-mail address is the company's, not the lead's
    assert found.properties == {
        "company_name": "Acme",
        "company_size": 1200,
        "industry": "Software",
    }


def test_track_names_map_through_the_table_and_settings_override_it() -> None:
    (found,) = to_events(call("track", userId="u-1", event="Demo Requested"), TABLE, RECEIVED)
    assert found.type is EventType.MEETING_BOOKED
    table = track_table([default_model()], {"Demo Requested": EventType.FORM_SUBMITTED})
    (found,) = to_events(call("track", userId="u-1", event="Demo Requested"), table, RECEIVED)
    assert found.type is EventType.FORM_SUBMITTED


def test_a_model_without_the_section_uses_the_default_table_and_its_own_when_it_has_one() -> None:
    bare = parse_model("name: bare\nversion: 1\n")
    assert track_table([bare]) == TABLE
    own = parse_model(
        "name: own\nversion: 1\nanalytics:\n  track:\n    Trial Started: product_usage\n"
    )
    assert track_table([own]) == {"Trial Started": EventType.PRODUCT_USAGE}


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ("{Foo: nope}", "'Foo' must map to one of"),
        ("{Foo: profile_updated}", "'Foo' must map to one of"),
        ("{Foo: page_view}", "'Foo' must map to one of"),
    ],
)
def test_the_model_section_is_checked(table: str, reason: str) -> None:
    with pytest.raises(ModelError) as err:
        parse_model(f"name: m\nversion: 1\nanalytics:\n  track: {table}\n")
    assert any(
        p.location.startswith("analytics.track") and reason in p.reason for p in err.value.problems
    )


@pytest.mark.parametrize(
    ("raw", "location", "reason"),
    [
        ({"type": "screen", "userId": "u"}, "type", "must be one of: page, track, identify, group"),
        (call("page", properties={"path": "/"}), "userId", "needs userId or anonymousId"),
        (call("page", userId="u"), "properties.path", "needs properties.path or properties.url"),
        (call("track", userId="u", event="Nope"), "event", "'Nope' is not in the track table"),
        (call("track", userId="u"), "event", "is required"),
        (call("group", userId="u"), "groupId", "is required"),
        (call("page", userId=7, properties={"path": "/"}), "userId", "must be a string"),
        (
            call("page", userId="u", timestamp="yesterday", properties={"path": "/"}),
            "timestamp",
            "RFC 3339",
        ),
        (
            call("identify", userId="u", traits={"employees": "many"}),
            "traits.employees",
            "non-negative whole number",
        ),
        (call("identify", userId="u", traits={"email": "dana"}), "traits.email", "email address"),
        (
            call("identify", userId="u", traits={"seniority": "boss"}),
            "traits.seniority",
            "must be one of",
        ),
        (
            call("page", userId="u", properties={"path": "/"}, context={"groupId": 5}),
            "context.groupId",
            "must be a string",
        ),
        ("not an object", "", "must be a JSON object"),
    ],
)
def test_malformed_or_unmapped_calls_are_refused_naming_the_field(
    raw: Any, location: str, reason: str
) -> None:
    with pytest.raises(EventValidationError) as err:
        to_events(raw, TABLE, RECEIVED)
    assert any(p.location == location and reason in p.reason for p in err.value.problems), err.value


def test_refusals_never_quote_traits_or_context() -> None:
    secret = "dana.private@example.org"
    raw = call(
        "identify",
        userId="u",
        traits={"email": secret, "employees": "lots"},
        context={"ip": "198.51.100.7"},
    )
    with pytest.raises(EventValidationError) as err:
        to_events(raw, TABLE, RECEIVED)
    assert secret not in str(err.value) and "198.51.100.7" not in str(err.value)


def test_a_call_without_time_or_id_is_stamped_when_received_and_named_by_its_content() -> None:
    raw = {"type": "page", "userId": "u", "properties": {"path": "/pricing"}}
    (first,) = to_events(raw, TABLE, RECEIVED)
    (again,) = to_events(dict(raw), TABLE, RECEIVED)
    assert first.occurred_at == RECEIVED and first.event_id == again.event_id
    (other,) = to_events({**raw, "properties": {"path": "/plans"}}, TABLE, RECEIVED)
    assert other.event_id != first.event_id


def test_a_call_more_than_a_day_ahead_is_refused() -> None:
    raw = call("page", userId="u", timestamp="2026-03-09T00:00:00Z", properties={"path": "/"})
    with pytest.raises(EventValidationError) as err:
        to_events(raw, TABLE, RECEIVED, now=RECEIVED)
    assert err.value.problems[0].location == "timestamp"


_calls = st.fixed_dictionaries(
    {"type": st.sampled_from(["page", "track", "identify", "group", "alias", "screen"])},
    optional={
        "messageId": st.one_of(st.text(max_size=10), json_value),
        "userId": st.one_of(st.text(max_size=5), json_value),
        "anonymousId": st.one_of(st.text(max_size=5), json_value),
        "groupId": st.one_of(st.text(max_size=5), json_value),
        "event": st.one_of(st.sampled_from(sorted(TABLE)), st.text(max_size=8), json_value),
        "timestamp": st.one_of(st.just("2026-03-02T09:00:00Z"), st.text(max_size=8), json_value),
        "properties": st.one_of(
            st.fixed_dictionaries({}, optional={"path": json_value, "url": json_value}), json_value
        ),
        "traits": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "email": json_value,
                    "employees": json_value,
                    "seniority": json_value,
                    "title": json_value,
                    "company": json_value,
                },
            ),
            json_value,
        ),
        "context": st.one_of(
            st.fixed_dictionaries({}, optional={"groupId": json_value}), json_value
        ),
    },
)


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(_calls, json_value))
def test_every_generated_call_maps_to_valid_events_or_is_refused_with_a_reason(raw: Any) -> None:
    try:
        events = to_events(raw, TABLE, RECEIVED, now=RECEIVED)
    except EventValidationError as err:
        assert err.problems and all(p.reason for p in err.problems)
        return
    assert isinstance(raw, dict) and raw["type"] in ("page", "track", "identify", "group")
    for found in events:  # each is a valid event of the contract, keyed by one of the call's ids
        assert found.key in (raw.get("userId"), raw.get("anonymousId"))


def _scores(rows: list[Any]) -> dict[str, int]:
    return {getattr(r, "lead_id", None) or r.account_id: r.score for r in rows}


def test_the_recorded_story_scores_as_its_native_telling() -> None:
    calls = (FIXTURES / "story.calls.jsonl").read_bytes().splitlines()
    native = (FIXTURES / "story.events.jsonl").read_bytes().splitlines()
    mapped, refused = event_lines(calls, TABLE, RECEIVED, RECEIVED)
    assert refused == []
    model = [default_model()]
    leads, bad = score_lines(mapped, model, AT)
    expected, bad_native = score_lines(native, model, AT)
    assert bad == bad_native == []
    assert _scores(leads) == _scores(expected)
    assert set(_scores(leads)) == {"u-dana", "u-lee", "u-kim"}
    accounts, _ = score_account_lines(mapped, model, AT, None)
    native_accounts, _ = score_account_lines(native, model, AT, None)
    assert [a.to_dict() for a in accounts] == [a.to_dict() for a in native_accounts]
    (acme,) = accounts
    assert acme.account_id == "acct-acme" and acme.engaged_contacts == 3 and acme.hot
    # the anonymous pricing views count: without them Dana would score less
    alone, _ = score_lines([line for line in mapped if b"anon-dana" not in line], model, AT)
    assert _scores(alone)["u-dana"] < _scores(leads)["u-dana"]
    assert not any(b"203.0.113.9" in line or b"Dana" in line or b"555" in line for line in mapped)


def test_event_lines_reports_refused_calls_by_line() -> None:
    lines = [
        orjson.dumps(call("page", userId="u", properties={"path": "/pricing"})),
        b"",
        b"{not json",
        orjson.dumps(call("track", userId="u", event="Nope")),
    ]
    mapped, refused = event_lines(lines, TABLE, RECEIVED)
    assert len(mapped) == 1
    assert [n for n, _ in refused] == [3, 4]
    assert "not valid JSON" in refused[0][1] and "track table" in refused[1][1]
