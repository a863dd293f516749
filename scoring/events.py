"""The producers' contract: what an event looks like and how it is validated.

Events arrive from many producers (web tracking, the email tool, the CRM, the product), so the
contract is checked strictly at the door and every problem is reported with the field it concerns.
Everything downstream can then trust an :class:`Event` without checking again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeGuard

import orjson
from annotated_types import MaxLen, MinLen
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from scoring.errors import EventValidationError, Problem, TimeProblem

MAX_ID_LENGTH = 200
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE = timedelta(days=1)
NOT_RFC3339 = "must be RFC 3339 with a time zone"
OUT_OF_RANGE = "must be between 2000-01-01 and 9999-12-31 in UTC"

# RFC 3339's date-time and nothing more: Python's ``fromisoformat`` also takes ISO 8601's week
# dates, basic formats and empty fractions, which producers in other languages would not read back.
# ASCII digits only (``\d`` would match other scripts' digits); "T"/"Z" in either case, or a space.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def parse_time(value: str) -> datetime:
    """An RFC 3339 date-time with its zone, as an aware UTC datetime.

    Raises :class:`TimeProblem` (never ``OverflowError``): a time near the calendar's ends, such
    as 9999-12-31T20:00:00-05:00, is valid RFC 3339 whose UTC form does not exist in Python.
    """
    if not _RFC3339.fullmatch(value):
        raise TimeProblem(NOT_RFC3339)
    try:
        parsed = datetime.fromisoformat(value[:-1] + "Z" if value[-1] == "z" else value)
        return parsed.astimezone(UTC)
    except ValueError:  # month 13, second 60, an offset of 24 hours ...
        raise TimeProblem(NOT_RFC3339) from None
    except OverflowError:
        raise TimeProblem(OUT_OF_RANGE) from None


class EventType(StrEnum):
    """The kinds of event the engine understands."""

    PAGE_VIEW = "page_view"
    WEBINAR_REGISTERED = "webinar_registered"
    WEBINAR_ATTENDED = "webinar_attended"
    EMAIL_OPENED = "email_opened"
    EMAIL_CLICKED = "email_clicked"
    EMAIL_UNSUBSCRIBED = "email_unsubscribed"
    FORM_SUBMITTED = "form_submitted"
    CONTENT_DOWNLOADED = "content_downloaded"
    DEMO_VIDEO_WATCHED = "demo_video_watched"
    MEETING_BOOKED = "meeting_booked"
    PRODUCT_USAGE = "product_usage"
    PROFILE_UPDATED = "profile_updated"
    # A known lead was recognised as an anonymous visitor: ``lead_id`` plus
    # ``properties.anonymous_id``. It scores nothing itself; see :mod:`scoring.identity`.
    IDENTIFIED = "identified"


class Seniority(StrEnum):
    """Allowed values of the ``seniority`` profile attribute."""

    C_SUITE = "c_suite"
    VP = "vp"
    DIRECTOR = "director"
    MANAGER = "manager"
    INDIVIDUAL_CONTRIBUTOR = "individual_contributor"
    STUDENT = "student"


# Profile attributes with a fixed meaning; any other property of ``profile_updated`` is a custom
# CRM attribute (string, number, boolean or null) that fit rules may match as well.
PROFILE_STRING_FIELDS = ("job_title", "industry", "country", "email")
_SENIORITIES = frozenset(s.value for s in Seniority)

_TYPE_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "dict_type": "must be an object",
    "enum": "must be one of: " + ", ".join(t.value for t in EventType),
    "extra_forbidden": "is not part of the event contract",
    "string_too_short": "must not be empty",
    "string_too_long": f"must be at most {MAX_ID_LENGTH} characters",
}


def _is_scalar(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _property_problems(event_type: EventType | None, props: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for key, value in props.items():
        if not _is_scalar(value) and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            problems.append(
                Problem(
                    f"properties.{key}",
                    "must be a string, number, boolean, null or a list of strings",
                )
            )
    if event_type is EventType.PAGE_VIEW:
        if not isinstance(props.get("url"), str) and not isinstance(props.get("path"), str):
            problems.append(Problem("properties.path", "a page_view needs a string url or path"))
        category = props.get("page_category")
        if category is not None and not isinstance(category, str):
            problems.append(Problem("properties.page_category", "must be a string"))
    elif event_type is EventType.PROFILE_UPDATED:
        for name in PROFILE_STRING_FIELDS:
            value = props.get(name)
            if value is not None and not isinstance(value, str):
                problems.append(Problem(f"properties.{name}", "must be a string"))
        size = props.get("company_size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            problems.append(Problem("properties.company_size", "must be a non-negative integer"))
        seniority = props.get("seniority")
        if seniority is not None and (
            not isinstance(seniority, str) or seniority not in _SENIORITIES
        ):
            problems.append(
                Problem(
                    "properties.seniority", "must be one of: " + ", ".join(sorted(_SENIORITIES))
                )
            )
        email = props.get("email")
        if isinstance(email, str) and "@" not in email:
            problems.append(Problem("properties.email", "must be an email address"))
    elif event_type is EventType.IDENTIFIED:
        anonymous = props.get("anonymous_id")
        if not isinstance(anonymous, str) or not 0 < len(anonymous) <= MAX_ID_LENGTH:
            problems.append(
                Problem(
                    "properties.anonymous_id",
                    f"an identified event needs a string of 1 to {MAX_ID_LENGTH} characters",
                )
            )
    return problems


def _subject_problems(
    lead_id: str | None, anonymous_id: str | None, event_type: EventType | None
) -> list[Problem]:
    """Exactly one of the two ids names whom an event is about; ``identified`` needs the lead."""
    if lead_id is None and anonymous_id is None:
        return [Problem("lead_id", "is required")]
    if lead_id is not None and anonymous_id is not None:
        return [Problem("anonymous_id", "must not be sent with lead_id: exactly one names whom")]
    if event_type is EventType.IDENTIFIED and lead_id is None:
        return [Problem("lead_id", "is required in an identified event")]
    return []


class Event(BaseModel):
    """One validated event. ``occurred_at`` is always aware and normalised to UTC."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    event_id: str = Field(
        min_length=1, max_length=MAX_ID_LENGTH, description="Unique per event; repeats count once."
    )
    lead_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="The known lead; exactly one of lead_id and anonymous_id is present.",
    )
    anonymous_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ID_LENGTH,
        description="An anonymous visitor (a cookie, a device); counts toward the lead it is"
        " identified as.",
    )
    type: EventType
    occurred_at: datetime = Field(description="RFC 3339 with a time zone, not before 2000-01-01.")
    account_id: str | None = Field(default=None, min_length=1, max_length=MAX_ID_LENGTH)
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type", mode="before")
    @classmethod
    def _type_from_string(cls, value: Any) -> Any:
        # strict mode would refuse the plain string a producer sends; convert it here.
        if isinstance(value, str) and value in EventType._value2member_map_:
            return EventType(value)
        if isinstance(value, EventType):
            return value
        raise PydanticCustomError(
            "event_type", "must be one of: " + ", ".join(t.value for t in EventType)
        )

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _parse_time(cls, value: Any) -> datetime:
        try:
            if isinstance(value, str):
                parsed = parse_time(value)
            elif isinstance(value, datetime) and value.utcoffset() is not None:
                try:
                    parsed = value.astimezone(UTC)
                except OverflowError:
                    raise TimeProblem(OUT_OF_RANGE) from None
            else:
                raise TimeProblem(NOT_RFC3339)
        except TimeProblem as problem:
            raise PydanticCustomError("rfc3339", str(problem)) from None
        if parsed < EARLIEST:
            raise PydanticCustomError("too_early", "must not be before 2000-01-01")
        return parsed

    @field_validator("properties", mode="after")
    @classmethod
    def _check_properties(cls, value: dict[str, Any], info: Any) -> dict[str, Any]:
        problems = _property_problems(info.data.get("type"), value)
        if problems:
            raise PydanticCustomError(
                "properties",
                "; ".join(str(p) for p in problems),
                {"problems": problems},
            )
        return value

    @model_validator(mode="after")
    def _one_subject(self) -> Event:
        problems = _subject_problems(self.lead_id, self.anonymous_id, self.type)
        if problems:
            raise PydanticCustomError(
                "subject", "; ".join(str(p) for p in problems), {"problems": problems}
            )
        return self

    @property
    def key(self) -> str:
        """Whom the event is about, as Kafka keys it: the lead, else the anonymous visitor."""
        return self.lead_id or self.anonymous_id or ""  # never "": the validator holds one

    @property
    def anonymous(self) -> bool:
        """Whether :attr:`key` is an anonymous id rather than a lead id."""
        return self.lead_id is None


def _problems_from(err: ValidationError) -> list[Problem]:
    problems: list[Problem] = []
    for item in err.errors(include_url=False):
        ctx = item.get("ctx") or {}
        nested = ctx.get("problems")
        if nested:
            problems.extend(nested)
            continue
        location = ".".join(str(part) for part in item["loc"])
        reason = _TYPE_MESSAGES.get(item["type"], item["msg"])
        problems.append(Problem(location, reason))
    return problems


def parse_event(raw: bytes | str | Mapping[str, Any], now: datetime | None = None) -> Event:
    """Validate one event (JSON text or an already decoded object) against the contract.

    ``now``, when given, rejects events stamped more than a day in the future: a clock that far
    ahead would otherwise keep a lead's engagement from decaying.
    """
    if isinstance(raw, (bytes, str)):
        try:
            data: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EventValidationError([Problem("", f"not valid JSON ({exc})")]) from None
    else:
        data = raw
    if not isinstance(data, Mapping):
        raise EventValidationError([Problem("", "an event must be a JSON object")])
    try:
        event = Event.model_validate(data)
    except ValidationError as exc:
        found = _problems_from(exc)
        if not any(p.location in ("lead_id", "anonymous_id") for p in found):
            # the model's own check of the ids runs only once every field is valid
            lead, anonymous = data.get("lead_id"), data.get("anonymous_id")
            event_type = _TYPES.get(data.get("type"))  # type: ignore[arg-type]
            found = _subject_problems(lead, anonymous, event_type) + found
        raise EventValidationError(found) from None
    if now is not None and event.occurred_at > now + FUTURE_TOLERANCE:
        raise EventValidationError([Problem("occurred_at", "is more than one day in the future")])
    return event


_FIELDS = frozenset(Event.model_fields)
# The fields quick_fields checks by hand, one by one; a test holds this equal to Event's fields,
# so a field added to the model cannot slip through the fast path unchecked.
QUICK_CHECKED_FIELDS = frozenset(
    {"event_id", "lead_id", "anonymous_id", "type", "occurred_at", "account_id", "properties"}
)
_TYPES: dict[str, EventType] = {t.value: t for t in EventType}
_EARLIEST_S = EARLIEST.timestamp()

# (event_id, lead_id, type, occurred_at epoch seconds, properties)
Fields = tuple[str, str, str, float, dict[str, Any]]
# Fields of a line of a file, which may be about an anonymous visitor:
# (*Fields, anonymous, account_id or None)
LineFields = tuple[str, str, str, float, dict[str, Any], bool, str | None]


def quick_parse(raw: bytes | str, now_s: float | None = None) -> Fields | None:
    """``(event_id, lead_id, type, occurred_at epoch seconds, properties)`` for a line that is
    plainly valid and about a known lead, else None.

    The offline fast path: it accepts a subset of what :func:`parse_event` accepts (the tests
    check that), without building a model object. Anything it declines goes through
    :func:`parse_event`, which either accepts it or explains what is wrong.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return quick_fields(data, now_s)


def quick_fields(data: Any, now_s: float | None = None) -> Fields | None:
    """:func:`quick_parse` on an already decoded JSON value (anonymous events are declined)."""
    fields = _quick(data, now_s)
    if fields is None or fields[5]:
        return None
    event_id, lead_id, event_type, t, props, _, _ = fields
    return event_id, lead_id, event_type, t, props


def _is_id(value: Any) -> TypeGuard[str]:
    return type(value) is str and 0 < len(value) <= MAX_ID_LENGTH


def _quick(data: Any, now_s: float | None) -> LineFields | None:
    """The hand checks of the fast path, for lead and anonymous events alike."""
    if type(data) is not dict or not data.keys() <= _FIELDS:
        return None
    event_id = data.get("event_id")
    lead_id = data.get("lead_id")
    anonymous_id = data.get("anonymous_id")
    event_type = _TYPES.get(data.get("type"))  # type: ignore[arg-type]
    stamp = data.get("occurred_at")
    props = data.get("properties", {})
    account = data.get("account_id")
    anonymous = lead_id is None
    subject = anonymous_id if anonymous else lead_id
    if (
        not _is_id(event_id)
        or not _is_id(subject)
        or (not anonymous and anonymous_id is not None)
        or event_type is None
        or (anonymous and event_type is EventType.IDENTIFIED)
        or type(stamp) is not str
        or type(props) is not dict
        or (account is not None and not _is_id(account))
    ):
        return None
    try:
        t = parse_time(stamp).timestamp()
    except TimeProblem:
        return None
    if t < _EARLIEST_S or (now_s is not None and t > now_s + FUTURE_TOLERANCE.total_seconds()):
        return None
    if _property_problems(event_type, props):
        return None
    return event_id, subject, event_type.value, t, props, anonymous, account


def _text_limits(field: FieldInfo) -> dict[str, Any]:
    """A string field's JSON Schema, with the length limits the model itself enforces."""
    schema: dict[str, Any] = {"type": "string"}
    for limit in field.metadata:
        if isinstance(limit, MinLen):
            schema["minLength"] = limit.min_length
        elif isinstance(limit, MaxLen):
            schema["maxLength"] = limit.max_length
    return schema


def _wire_schema(name: str, field: FieldInfo) -> dict[str, Any]:
    """How one field of :class:`Event` looks on the wire. Every field needs a case here: a field
    added to the model without one makes the schema fail to generate, and the shipped schema test
    with it."""
    if name in ("event_id", "lead_id", "anonymous_id"):  # never null, though only one id is sent
        schema = _text_limits(field)
    elif name == "type":
        schema = {"enum": [t.value for t in EventType]}
    elif name == "occurred_at":
        schema = {"type": "string", "format": "date-time"}
    elif name == "account_id":
        schema = {"anyOf": [_text_limits(field), {"type": "null"}]}
    elif name == "properties":
        scalar: dict[str, Any] = {"type": ["string", "number", "boolean", "null"]}
        flat = {"anyOf": [scalar, {"type": "array", "items": {"type": "string"}}]}
        schema = {"type": "object", "additionalProperties": flat, "default": {}}
    else:
        raise KeyError(f"Event.{name} has no wire schema; add it to scoring.events._wire_schema")
    if field.description:
        schema["description"] = field.description
    return schema


def event_json_schema(model: type[Event] = Event) -> dict[str, Any]:
    """The JSON Schema of an event, as published in ``scoring/schema/event.schema.json``.

    Generated from :class:`Event`: the field names, which are required, their length limits and
    descriptions come from the model, and :func:`_wire_schema` says how each looks on the wire
    (RFC 3339 strings, not Python datetimes). The per-type property rules are the ones
    :func:`_property_problems` applies, written as JSON Schema conditions.
    """
    fields = model.model_fields
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://leadscore.dev/schema/event.schema.json",
        "title": "leadscore event",
        "description": "One thing a lead did or one update of a lead's profile.",
        "type": "object",
        "additionalProperties": False,
        "required": [name for name, field in fields.items() if field.is_required()],
        "properties": {name: _wire_schema(name, field) for name, field in fields.items()},
        "oneOf": [{"required": ["lead_id"]}, {"required": ["anonymous_id"]}],
        "allOf": [
            {
                "if": {"properties": {"type": {"const": "identified"}}},
                "then": {
                    "required": ["lead_id", "properties"],
                    "properties": {
                        "properties": {
                            "required": ["anonymous_id"],
                            "properties": {
                                "anonymous_id": {
                                    "type": "string",
                                    "minLength": 1,
                                    "maxLength": MAX_ID_LENGTH,
                                }
                            },
                        }
                    },
                },
            },
            {
                "if": {"properties": {"type": {"const": "page_view"}}},
                "then": {
                    "properties": {
                        "properties": {
                            "anyOf": [{"required": ["url"]}, {"required": ["path"]}],
                            "properties": {
                                "url": {"type": "string"},
                                "path": {"type": "string"},
                                "page_category": {"type": "string"},
                            },
                        }
                    },
                    "required": ["properties"],
                },
            },
            {
                "if": {"properties": {"type": {"const": "profile_updated"}}},
                "then": {
                    "properties": {
                        "properties": {
                            "properties": {
                                **{
                                    name: {"type": ["string", "null"]}
                                    for name in PROFILE_STRING_FIELDS
                                },
                                "email": {"type": ["string", "null"], "pattern": "@"},
                                "company_size": {"type": ["integer", "null"], "minimum": 0},
                                "seniority": {
                                    "enum": [*sorted(_SENIORITIES), None],
                                },
                            }
                        }
                    }
                },
            },
        ],
    }


def line_fields(
    line: bytes | str, data: Any, now: datetime | None, now_s: float | None
) -> LineFields | None:
    """The fields of one line of a JSON-lines file, validated once.

    ``data`` is the line already decoded (or None when it is not JSON). Plainly valid lines take
    the fast path; the rest go through :func:`parse_event`, which raises
    :class:`EventValidationError` saying what is wrong. Blank lines give None. The last two
    fields say whether the second is an anonymous id rather than a lead id, and the account.
    """
    fields = _quick(data, now_s)
    if fields is not None:
        return fields
    if not line.strip():
        return None
    event = parse_event(line, now=now)
    return (
        event.event_id,
        event.key,
        event.type.value,
        event.occurred_at.timestamp(),
        event.properties,
        event.anonymous,
        event.account_id,
    )
