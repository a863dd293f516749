"""Calls of the common analytics spec (``page``, ``track``, ``identify``, ``group``) as events.

Most B2B teams already collect web and product events with a tool that speaks this spec, so a
webhook of that tool can feed leadscore unchanged. Each call becomes zero or more events of
leadscore's own contract (:mod:`scoring.events`), validated by the same rules as any other event:

- ``userId`` names the lead, else ``anonymousId`` the anonymous visitor;
- ``page`` is a ``page_view`` with the page's path and url (query and fragment left out), so the
  model's page rules apply;
- ``track`` becomes the event type its name maps to in the track table (the model's
  ``analytics.track``, see :func:`track_table`); a name not in it is refused;
- ``identify`` carrying both ids is an ``identified`` event, and its ``traits`` a profile update;
- ``group`` makes ``groupId`` the lead's account, and the group's traits its firmographics
  (a profile update carrying ``account_id``);
- ``context.groupId`` (or ``traits.company.id``) names the account of any other call.

Event ids derive from the call's ``messageId`` (a digest of the call when it has none), so a
call sent twice counts once. Nothing here names a trait's value in an error: traits hold e-mail
addresses and names, and errors travel to logs, answers and dead letters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scoring.errors import EventValidationError, Problem, TimeProblem
from scoring.events import MAX_ID_LENGTH, PROFILE_STRING_FIELDS, Event, EventType, parse_time
from scoring.events import parse_event as parse_native
from scoring.model import Model, default_model

CALL_TYPES = ("page", "track", "identify", "group")
# Room for the suffix that tells a call's events apart (":identified", ":traits").
MAX_MESSAGE_ID = MAX_ID_LENGTH - 16

# Traits that name or reach a person: never copied into an event, whatever the model reads.
PERSONAL_TRAITS = frozenset(
    {
        "name",
        "firstName",
        "lastName",
        "first_name",
        "last_name",
        "phone",
        "address",
        "birthday",
        "avatar",
        "username",
        "gender",
        "age",
        "id",
        "ip",
    }
)
# Spec trait names that mean one of leadscore's profile attributes.
_TRAIT_NAMES = {"title": "job_title", "employees": "company_size", "employee_count": "company_size"}
_SENIORITIES = ("c_suite", "vp", "director", "manager", "individual_contributor", "student")


class _Call(BaseModel):
    """What every call carries. The spec has many more fields (``sentAt``, ``integrations``,
    ``channel``, a tool's own ``_metadata``): allowed and ignored."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, populate_by_name=True)

    message_id: str | None = Field(
        default=None, alias="messageId", min_length=1, max_length=MAX_MESSAGE_ID
    )
    anonymous_id: str | None = Field(
        default=None, alias="anonymousId", min_length=1, max_length=MAX_ID_LENGTH
    )
    user_id: str | None = Field(
        default=None, alias="userId", min_length=1, max_length=MAX_ID_LENGTH
    )
    timestamp: str | None = None
    original_timestamp: str | None = Field(default=None, alias="originalTimestamp")
    context: dict[str, Any] = Field(default_factory=dict)


class PageCall(_Call):
    """A page view: where the visitor was is in ``properties.path`` / ``properties.url``."""

    type: Literal["page"]
    name: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


class TrackCall(_Call):
    """Something the visitor did, named by ``event`` (e.g. "Demo Requested")."""

    type: Literal["track"]
    event: str = Field(min_length=1, max_length=MAX_ID_LENGTH)
    properties: dict[str, Any] = Field(default_factory=dict)


class IdentifyCall(_Call):
    """Who the visitor is: ``userId`` (with ``anonymousId``, the moment they were recognised)
    and ``traits`` about them."""

    type: Literal["identify"]
    traits: dict[str, Any] = Field(default_factory=dict)


class GroupCall(_Call):
    """The company (account) the user belongs to, and its traits."""

    type: Literal["group"]
    group_id: str = Field(alias="groupId", min_length=1, max_length=MAX_ID_LENGTH)
    traits: dict[str, Any] = Field(default_factory=dict)


Call = PageCall | TrackCall | IdentifyCall | GroupCall
_CLASSES: dict[str, type[Call]] = {
    "page": PageCall,
    "track": TrackCall,
    "identify": IdentifyCall,
    "group": GroupCall,
}
_REASONS = {
    "missing": "is required",
    "string_type": "must be a string",
    "dict_type": "must be an object",
    "string_too_short": "must not be empty",
    "string_too_long": "is too long",
    "literal_error": "does not match the call's type",
}


def track_table(
    models: Sequence[Model], overrides: Mapping[str, EventType] | None = None
) -> dict[str, EventType]:
    """The track-name table in force: the first model's ``analytics.track`` (the default
    model's when it has no such section), with ``overrides`` (``LEADSCORE_TRACK_EVENTS``) on
    top, name by name."""
    section = models[0].analytics if models else None
    if section is None:
        section = default_model().analytics
    table = dict(section.track) if section is not None else {}
    table.update(overrides or {})
    return table


def parse_call(data: Any) -> Call:
    """Validate one spec call (already decoded JSON). Raises :class:`EventValidationError`
    naming each wrong field by its spec name; values are never quoted."""
    if not isinstance(data, Mapping):
        raise EventValidationError([Problem("", "a call must be a JSON object")])
    kind = data.get("type")
    cls = _CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventValidationError([Problem("type", "must be one of: " + ", ".join(CALL_TYPES))])
    try:
        call = cls.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                ".".join(str(p) for p in err["loc"]),
                _REASONS.get(err["type"], err["msg"].removeprefix("Value error, ")),
            )
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise EventValidationError(problems) from None
    if call.user_id is None and call.anonymous_id is None:
        raise EventValidationError([Problem("userId", "a call needs userId or anonymousId")])
    return call


def _message_id(call: Call, data: Any) -> str:
    if call.message_id is not None:
        return call.message_id
    digest = hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"call-{digest[:40]}"


def _occurred_at(call: Call, received_at: datetime) -> str:
    for name, value in (
        ("timestamp", call.timestamp),
        ("originalTimestamp", call.original_timestamp),
    ):
        if value is not None:
            try:
                parse_time(value)
            except TimeProblem as problem:
                raise EventValidationError([Problem(name, str(problem))]) from None
            return value
    return received_at.astimezone(UTC).isoformat()


def _flat(values: Mapping[str, Any]) -> dict[str, Any]:
    """The properties an event can hold: strings, numbers, booleans, null, lists of strings;
    nested objects are left out (no rule could read them)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if (
            value is None
            or isinstance(value, (str, bool, int))
            or (isinstance(value, float) and value == value and abs(value) != float("inf"))
            or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        ):
            out[key] = value
    return out


def _company_size(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise EventValidationError([Problem(where, "must be a non-negative whole number")])


def _profile(traits: Mapping[str, Any], where: str, company: bool) -> dict[str, Any]:
    """Traits as profile attributes: the spec's names mapped to leadscore's, personal ones
    left out, a nested ``company`` object read for its industry and size. A group's traits
    (``company``) describe the company: its ``name`` is the company's, and its e-mail address
    is not the lead's."""
    out: dict[str, Any] = {}
    nested = traits.get("company")
    if isinstance(nested, Mapping):
        for key in ("industry", "employee_count", "employees"):
            value = nested.get(key)
            if value is None:
                continue
            if key == "industry":
                if not isinstance(value, str):
                    raise EventValidationError(
                        [Problem(f"{where}.company.{key}", "must be a string")]
                    )
                out["industry"] = value
            else:
                out["company_size"] = _company_size(value, f"{where}.company.{key}")
    address = traits.get("address")
    if isinstance(address, Mapping) and isinstance(address.get("country"), str):
        out["country"] = address["country"]
    for key, value in _flat(traits).items():
        if company and key == "name" and isinstance(value, str):
            out["company_name"] = value
            continue
        if key in PERSONAL_TRAITS or value is None or (company and key == "email"):
            continue
        name = _TRAIT_NAMES.get(key, key)
        if name == "company_size":
            value = _company_size(value, f"{where}.{key}")
        elif name in PROFILE_STRING_FIELDS and not isinstance(value, str):
            raise EventValidationError([Problem(f"{where}.{key}", "must be a string")])
        elif name == "email" and "@" not in value:
            raise EventValidationError([Problem(f"{where}.{key}", "must be an email address")])
        elif name == "seniority":
            if not isinstance(value, str):
                raise EventValidationError([Problem(f"{where}.{key}", "must be a string")])
            value = value.strip().lower().replace(" ", "_").replace("-", "_")
            if value not in _SENIORITIES:
                reason = "must be one of: " + ", ".join(_SENIORITIES)
                raise EventValidationError([Problem(f"{where}.{key}", reason)])
        out[name] = value
    return out


def _context_account(call: Call) -> str | None:
    group = call.context.get("groupId")
    if group is None and isinstance(call, IdentifyCall):
        company = call.traits.get("company")
        group = company.get("id") if isinstance(company, Mapping) else None
        if group is not None and not isinstance(group, str):
            raise EventValidationError([Problem("traits.company.id", "must be a string")])
    if group is not None and (not isinstance(group, str) or not 0 < len(group) <= MAX_ID_LENGTH):
        reason = f"must be a string of 1 to {MAX_ID_LENGTH} characters"
        raise EventValidationError([Problem("context.groupId", reason)])
    return group


def _page_properties(call: PageCall) -> dict[str, Any]:
    page = call.context.get("page")
    sources = [call.properties, page if isinstance(page, Mapping) else {}]
    path = next((s["path"] for s in sources if isinstance(s.get("path"), str)), None)
    url = next((s["url"] for s in sources if isinstance(s.get("url"), str)), None)
    props: dict[str, Any] = {}
    if url is not None:
        parts = urlsplit(url)
        url = parts._replace(query="", fragment="").geturl()  # a query may carry an address
        props["url"] = url
        if path is None and parts.path:
            path = parts.path
    if path is not None:
        props["path"] = path.split("?", 1)[0].split("#", 1)[0] or "/"
    if not props:
        raise EventValidationError(
            [Problem("properties.path", "a page call needs properties.path or properties.url")]
        )
    if call.name is not None:
        props["page_name"] = call.name
    return props


def to_events(
    data: Any,
    table: Mapping[str, EventType],
    received_at: datetime,
    now: datetime | None = None,
) -> list[Event]:
    """The events one call stands for, validated by the event contract.

    ``received_at`` stamps a call with neither ``timestamp`` nor ``originalTimestamp`` (the
    Kafka record's time, or the request's); ``now`` refuses calls more than a day in the
    future, as for any event. Raises :class:`EventValidationError` with the reason when the
    call is malformed or cannot be mapped (an unknown track name, say). An ``identify`` with
    neither traits nor both ids stands for no event: there is nothing to score in it.
    """
    call = parse_call(data)
    message_id = _message_id(call, data)
    occurred_at = _occurred_at(call, received_at)
    account = call.group_id if isinstance(call, GroupCall) else _context_account(call)
    subject = {"lead_id": call.user_id} if call.user_id else {"anonymous_id": call.anonymous_id}
    base: dict[str, Any] = {"occurred_at": occurred_at, **subject}
    if account is not None:
        base["account_id"] = account
    raw: list[dict[str, Any]] = []
    if isinstance(call, PageCall):
        raw.append(
            {
                **base,
                "event_id": message_id,
                "type": "page_view",
                "properties": _page_properties(call),
            }
        )
    elif isinstance(call, TrackCall):
        kind = table.get(call.event)
        if kind is None:
            shown = call.event if len(call.event) <= 80 else call.event[:80] + "..."
            reason = f"track event {shown!r} is not in the track table (analytics.track)"
            raise EventValidationError([Problem("event", reason)])
        raw.append(
            {
                **base,
                "event_id": message_id,
                "type": kind.value,
                "properties": _flat(call.properties),
            }
        )
    elif isinstance(call, IdentifyCall):
        if call.user_id and call.anonymous_id:
            raw.append(
                {
                    **base,
                    "event_id": f"{message_id}:identified",
                    "type": "identified",
                    "properties": {"anonymous_id": call.anonymous_id},
                }
            )
        profile = _profile(call.traits, "traits", company=False)
        if profile:
            raw.append(
                {
                    **base,
                    "event_id": f"{message_id}:traits",
                    "type": "profile_updated",
                    "properties": profile,
                }
            )
    else:
        raw.append(
            {
                **base,
                "event_id": message_id,
                "type": "profile_updated",
                "properties": _profile(call.traits, "traits", company=True),
            }
        )
    return [_native(event, now) for event in raw]


def _native(event: dict[str, Any], now: datetime | None) -> Event:
    try:
        return parse_native(event, now=now)
    except EventValidationError as err:  # locations of the event, said in the call's words
        problems = [Problem(_spec_location(p.location), p.reason) for p in err.problems]
        raise EventValidationError(problems) from None


_SPEC_NAMES = {
    "occurred_at": "timestamp",
    "lead_id": "userId",
    "anonymous_id": "anonymousId",
    "account_id": "groupId",
    "event_id": "messageId",
}
_PROFILE_NAMES = frozenset({*PROFILE_STRING_FIELDS, "company_size", "seniority"})


def _spec_location(location: str) -> str:
    """Where an event's problem lies, named as in the call (profile attributes as traits)."""
    if location in _SPEC_NAMES:
        return _SPEC_NAMES[location]
    head, _, rest = location.partition(".")
    if head == "properties" and rest in _PROFILE_NAMES:
        return f"traits.{rest}"
    return location


def wire(event: Event) -> bytes:
    """An event as JSON in the contract's wire form, as producers publish it."""
    data: dict[str, Any] = {"event_id": event.event_id}
    if event.lead_id is not None:
        data["lead_id"] = event.lead_id
    else:
        data["anonymous_id"] = event.anonymous_id
    data["type"] = event.type.value
    data["occurred_at"] = event.occurred_at.isoformat().replace("+00:00", "Z")
    if event.account_id is not None:
        data["account_id"] = event.account_id
    data["properties"] = event.properties
    return orjson.dumps(data)


def event_lines(
    lines: Iterable[bytes | str],
    table: Mapping[str, EventType],
    received_at: datetime,
    now: datetime | None = None,
) -> tuple[list[bytes], list[tuple[int, str]]]:
    """A JSON-lines file of calls as a JSON-lines file of events (offline ``score`` and
    ``calibrate`` with ``--analytics``), and ``(line number, reason)`` for each refused call.
    Blank lines are skipped."""
    out: list[bytes] = []
    refused: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            refused.append((number, f"not valid JSON ({exc})"))
            continue
        try:
            out.extend(wire(e) for e in to_events(data, table, received_at, now))
        except EventValidationError as err:
            refused.append((number, str(err)))
        except RecursionError:
            refused.append((number, "nested too deeply"))
    return out, refused
