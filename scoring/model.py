"""The model file: every number and rule that turns events into a score.

A model is plain YAML so that marketing operations can review a change like any other text change.
It is validated as a whole and every problem is reported with its location (and YAML line), because
a model is usually edited in one sitting and fixing one error per run wastes everyone's time.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from scoring.conditions import ConditionSet, Range, Scalar
from scoring.errors import ModelError, Problem
from scoring.events import EventType

RuleId = str
_ID_PATTERN = r"^[A-Za-z0-9_.-]+$"
_CONDITION_KEYS = ("attribute", "equals", "in", "contains", "range", "exists")


DAY = 86_400.0  # seconds


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _inline_condition(data: Any) -> Any:
    """Let a rule state a single condition inline instead of under ``all:``."""
    if isinstance(data, dict) and "attribute" in data:
        inline = {k: data[k] for k in _CONDITION_KEYS if k in data}
        rest = {k: v for k, v in data.items() if k not in _CONDITION_KEYS}
        rest["all"] = [inline, *(rest.get("all") or [])]
        return rest
    return data


class Decay(_Strict):
    """Engagement loses ``rate`` of its value every ``period_days``, exponentially, per event."""

    rate: float = Field(default=0.15, ge=0.0, lt=1.0)
    period_days: float = Field(default=30.0, gt=0.0)

    @property
    def per_second(self) -> float:
        """The exponential decay constant: remaining = exp(-per_second * age_seconds)."""
        return -math.log1p(-self.rate) / (self.period_days * DAY)


class Thresholds(_Strict):
    """Hot when the score reaches ``hot``; hot again only after dropping below ``rearm``."""

    hot: int = Field(default=80, ge=1, le=100)
    rearm: int = Field(default=70, ge=0, le=100)

    @model_validator(mode="after")
    def _rearm_below_hot(self) -> Thresholds:
        if self.rearm >= self.hot:
            raise ValueError("rearm must be lower than hot")
        return self


class FitRule(ConditionSet):
    """Points for a profile that satisfies the conditions (inline, ``all`` and/or ``any``)."""

    id: RuleId = Field(pattern=_ID_PATTERN)
    points: float
    description: str = ""

    _inline = model_validator(mode="before")(_inline_condition)

    @model_validator(mode="after")
    def _has_condition(self) -> FitRule:
        if not self.all_ and not self.any_:
            raise ValueError("a fit rule needs a condition (attribute, all or any)")
        return self


class FitSection(_Strict):
    """Fit is the sum of the fired fit rules, clamped to [min, max]. Fit never decays."""

    max: float = Field(default=50, gt=0)
    min: float = Field(default=-50, le=0)
    rules: list[FitRule] = Field(default_factory=list)


class Group(_Strict):
    """Rules sharing a group are capped together: their sum never exceeds ``cap``."""

    cap: float = Field(gt=0)
    description: str = ""


ANY_EVENT = "any"  # an engagement rule fed by every kind of engagement event


class EngagementRule(_Strict):
    """Points for events of one type (or of ``any`` type), optionally filtered.

    - Without ``min_count`` the rule earns ``points`` per matching event, each decayed from its own
      time.
    - With ``min_count`` it is a frequency rule: ``points`` once, when at least that many matching
      events happened (and at most ``max_count``, for count bins such as "2-3 pricing views"),
      decayed from the latest of them.
    - ``within_days`` makes it a window rule, as CRMs' "in the past N days" criteria: only the
      events of the last N days count, and they do not decay (the window is the recency).
    - ``days_since_last`` scores recency itself: ``points`` when the latest matching event is
      that many days old (``{min: 14}``: quiet for two weeks or more), without decay. The band
      includes ``min`` and excludes ``max``, so that consecutive bands (``{max: 3}``,
      ``{min: 3, max: 7}``) never both fire.
    - ``distinct_signals`` scores breadth: ``points`` once when the number of different signals
      (event types, and page categories for page views) among the matching events is in the
      band, ends included (``{min: 3}``: three kinds of engagement or more). With
      ``within_days`` only the signals seen in the window count. It does not decay.
    """

    id: RuleId = Field(pattern=_ID_PATTERN)
    event: EventType | Literal["any"]
    points: float
    page_category: str | None = Field(default=None, min_length=1)
    path_pattern: str | None = Field(default=None, min_length=1)
    properties: dict[str, Scalar | list[Scalar]] | None = None
    # declared before min_count, whose check reads them
    max_count: int | None = Field(default=None, ge=1)
    within_days: float | None = Field(default=None, gt=0, le=3650)
    min_count: int | None = Field(default=None, ge=1)
    days_since_last: Range | None = None
    distinct_signals: Range | None = None
    cap: float | None = Field(default=None, gt=0)
    group: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _consistent_counts(self) -> EngagementRule:
        if self.max_count is not None and self.min_count is None:
            raise ValueError("max_count needs min_count (a count bin has a lower end)")
        low, high = self.min_count, self.max_count
        if low is not None and high is not None and high < low:
            raise ValueError("max_count must not be below min_count")
        if self.days_since_last is not None and (
            self.min_count is not None or self.within_days is not None
        ):
            raise ValueError("days_since_last does not combine with counts or a window")
        if self.distinct_signals is not None and (
            self.min_count is not None or self.days_since_last is not None
        ):
            raise ValueError("distinct_signals does not combine with counts or days_since_last")
        if self.distinct_signals is not None and self.needs_own_signal:
            raise ValueError("distinct_signals counts signals, so it takes no properties or path")
        if self.event == ANY_EVENT and (self.properties or self.path_pattern):
            raise ValueError("properties and path_pattern need a single event type")
        return self

    @field_validator("path_pattern")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from None
        return value

    @field_validator("min_count")
    @classmethod
    def _a_count_that_filters(cls, value: int | None, info: ValidationInfo) -> int | None:
        alone = info.data.get("max_count") is None and info.data.get("within_days") is None
        if value == 1 and alone:  # every matching event: no frequency at all
            raise ValueError("must be at least 2, unless max_count or within_days is set")
        return value

    @field_validator("event", mode="before")
    @classmethod
    def _known_event(cls, value: Any) -> Any:
        if value == ANY_EVENT or isinstance(value, EventType):
            return value
        if isinstance(value, str) and value in EventType._value2member_map_:
            return EventType(value)
        names = ", ".join([*(t.value for t in EventType), ANY_EVENT])
        raise ValueError(f"must be one of: {names}")

    @field_validator("event")
    @classmethod
    def _not_profile(cls, value: EventType | str) -> EventType | str:
        if value is EventType.PROFILE_UPDATED:
            raise ValueError("profile updates feed fit rules, not engagement rules")
        return value

    @model_validator(mode="after")
    def _page_filters_need_page_views(self) -> EngagementRule:
        if self.event is not EventType.PAGE_VIEW and (self.page_category or self.path_pattern):
            raise ValueError("page_category and path_pattern only apply to page_view rules")
        return self

    @property
    def needs_own_signal(self) -> bool:
        """True when the filter cannot be expressed by event type and page category alone."""
        return self.path_pattern is not None or bool(self.properties)


class EngagementSection(_Strict):
    """Engagement is the sum of the rule points after decay and caps, clamped to [min, max]."""

    max: float = Field(default=50, gt=0)
    min: float = Field(default=-50, le=0)
    groups: dict[str, Group] = Field(default_factory=dict)
    rules: list[EngagementRule] = Field(default_factory=list)


class PageCategory(_Strict):
    """A page category derived from the path when the producer did not send one."""

    category: str = Field(min_length=1)
    patterns: list[str] = Field(min_length=1)

    @field_validator("patterns")
    @classmethod
    def _valid_regexes(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regular expression ({exc})") from None
        return value


class GradeBand(_Strict):
    """A grade and the lowest component value that earns it (none for the lowest grade)."""

    name: str = Field(min_length=1)
    min: float | None = None


def _check_bands(bands: list[GradeBand]) -> list[GradeBand]:
    if not bands:
        raise ValueError("needs at least one grade")
    if bands[-1].min is not None:
        raise ValueError("the last (lowest) grade must not have a min")
    mins = [b.min for b in bands[:-1]]
    if any(m is None for m in mins):
        raise ValueError("every grade but the last needs a min")
    if any(a <= b for a, b in pairwise(mins) if a is not None and b is not None):
        raise ValueError("grades must be listed from highest min to lowest")
    if len({b.name for b in bands}) != len(bands):
        raise ValueError("grade names must be unique")
    return bands


class Grades(_Strict):
    """Grades form a matrix: the fit letter followed by the engagement digit, e.g. ``A1``."""

    fit: list[GradeBand] = Field(
        default_factory=lambda: [
            GradeBand(name="A", min=35),
            GradeBand(name="B", min=20),
            GradeBand(name="C"),
        ]
    )
    engagement: list[GradeBand] = Field(
        default_factory=lambda: [
            GradeBand(name="1", min=35),
            GradeBand(name="2", min=15),
            GradeBand(name="3"),
        ]
    )

    _bands = field_validator("fit", "engagement")(_check_bands)


class RouteRule(ConditionSet):
    """Sends a hot lead to ``route`` when its grades and profile match; first match wins."""

    route: str = Field(min_length=1)
    fit_grade: list[str] | None = None
    engagement_grade: list[str] | None = None
    grade: list[str] | None = None
    description: str = ""

    _inline = model_validator(mode="before")(_inline_condition)


class Routing(_Strict):
    """Where hot leads go; ``default`` when no rule matches (null: unrouted)."""

    default: str | None = "sdr_queue"
    rules: list[RouteRule] = Field(default_factory=list)


class AccountFit(_Strict):
    """Account fit: rules on the firmographics of the account's leads (each attribute's latest
    value over its leads), summed and clamped to [min, max]."""

    max: float = Field(default=50, gt=0)
    min: float = Field(default=-50, le=0)
    rules: list[FitRule] = Field(default_factory=list)


class AccountEngagement(_Strict):
    """Account engagement: the sum of its ``top`` most engaged leads' engagement, at most
    ``cap``, so one very busy contact cannot make a buying group on its own."""

    top: int = Field(default=3, ge=1, le=100)
    cap: float = Field(default=60, gt=0)


class EngagedContacts(_Strict):
    """A lead counts as an engaged contact when its engagement reached ``min_engagement`` at
    its latest event, and that event is at most ``within_days`` old."""

    min_engagement: float = Field(default=20, gt=0)
    within_days: float = Field(default=30, gt=0, le=3650)


class AccountThresholds(_Strict):
    """An account turns hot when its score reaches ``hot`` or its engaged contacts reach
    ``min_engaged_contacts`` (either may be left out, not both). It stays hot while its score is
    at least ``rearm`` or it keeps that many engaged contacts; then it cools and re-arms."""

    hot: int | None = Field(default=None, ge=1, le=100)
    rearm: int | None = Field(default=None, ge=0, le=100)
    min_engaged_contacts: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _usable(self) -> AccountThresholds:
        if self.hot is None and self.min_engaged_contacts is None:
            raise ValueError("set hot, min_engaged_contacts or both")
        if self.hot is not None and self.rearm is None:
            return self.model_copy(update={"rearm": max(self.hot - 10, 0)})
        if self.hot is not None and self.rearm is not None and self.rearm >= self.hot:
            raise ValueError("rearm must be lower than hot")
        return self


class AccountRouteRule(ConditionSet):
    """Sends a hot account to ``route`` when its firmographics match; first match wins."""

    route: str = Field(min_length=1)
    min_engaged_contacts: int | None = Field(default=None, ge=1)
    description: str = ""

    _inline = model_validator(mode="before")(_inline_condition)


class AccountRouting(_Strict):
    """Where hot accounts go; ``default`` when no rule matches (null: unrouted)."""

    default: str | None = "account_team"
    rules: list[AccountRouteRule] = Field(default_factory=list)


class AccountsSection(_Strict):
    """Scoring the buying group: see ``scoring.accounts``."""

    fit: AccountFit = Field(default_factory=AccountFit)
    engagement: AccountEngagement = Field(default_factory=AccountEngagement)
    engaged_contacts: EngagedContacts = Field(default_factory=EngagedContacts)
    thresholds: AccountThresholds
    members_shown: int = Field(default=5, ge=1, le=100)
    routing: AccountRouting = Field(default_factory=AccountRouting)


# Types a track call may not become: page views come from page calls, profiles from identify and
# group calls, identifications from an identify carrying both ids.
_NOT_FROM_TRACK = frozenset({EventType.PAGE_VIEW, EventType.PROFILE_UPDATED, EventType.IDENTIFIED})


def check_track_table(table: Mapping[str, Any]) -> dict[str, EventType]:
    """A track-name table as it is used: each name (1-200 characters) to an engagement type.

    Shared by the model's ``analytics`` section and ``LEADSCORE_TRACK_EVENTS``; raises
    ``ValueError`` naming the first bad entry.
    """
    out: dict[str, EventType] = {}
    for name, value in table.items():
        if not isinstance(name, str) or not 0 < len(name) <= 200:
            raise ValueError("track event names must be strings of 1 to 200 characters")
        kind = EventType._value2member_map_.get(value) if isinstance(value, str) else None
        if not isinstance(kind, EventType) or kind in _NOT_FROM_TRACK:
            allowed = ", ".join(t.value for t in EventType if t not in _NOT_FROM_TRACK)
            raise ValueError(f"{name!r} must map to one of: {allowed}")
        out[name] = kind
    return out


class AnalyticsSection(_Strict):
    """How calls of the common analytics spec become events (``scoring.analytics``): ``track``
    maps a track call's event name, exactly as sent, to a leadscore event type."""

    track: dict[str, Any] = Field(default_factory=dict)

    @field_validator("track")
    @classmethod
    def _known_types(cls, value: dict[str, Any]) -> dict[str, EventType]:
        return check_track_table(value)


class CalibrationBand(_Strict):
    """Leads scoring ``min`` or more (up to the next band) converted at ``rate``."""

    min: int = Field(ge=0, le=100)
    rate: float = Field(ge=0, le=1)


class Calibration(_Strict):
    """What a score means: the conversion rate observed per score band on held-out leads.

    Written by ``leadscore calibrate --fit``; the rates are made non-decreasing (pooled where a
    higher band converted less), so a higher score never promises less.
    """

    base_rate: float = Field(ge=0, le=1)
    leads: int = Field(ge=1)
    bands: list[CalibrationBand] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Calibration:
        mins = [b.min for b in self.bands]
        if mins[0] != 0 or any(a >= b for a, b in pairwise(mins)):
            raise ValueError("bands start at min 0 and go up")
        return self

    def rate_at(self, score: int) -> float:
        """The observed conversion rate of the band ``score`` falls in."""
        found = self.bands[0].rate
        for band in self.bands:
            if band.min > score:
                break
            found = band.rate
        return found


class Model(_Strict):
    """A validated scoring model. Compiled matchers are cached on the instance (see rules.py)."""

    name: str = Field(min_length=1, pattern=_ID_PATTERN)
    version: str | int
    description: str = ""
    # Points every lead starts from, before fit and engagement. A fitted model needs one: its
    # learned points are log-odds relative to an average lead, often negative, and without a base
    # most leads would clamp at 0 and tie. Shown as its own line in every explanation.
    base: float = Field(default=0.0, ge=-1000, le=1000)
    decay: Decay = Field(default_factory=Decay)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    fit: FitSection = Field(default_factory=FitSection)
    engagement: EngagementSection = Field(default_factory=EngagementSection)
    page_categories: list[PageCategory] = Field(default_factory=list)
    grades: Grades = Field(default_factory=Grades)
    routing: Routing = Field(default_factory=Routing)
    calibration: Calibration | None = None
    # Optional: without it the model scores leads only.
    accounts: AccountsSection | None = None
    # Optional: the track-name table of analytics-spec input (the default model's when absent).
    analytics: AnalyticsSection | None = None

    _compiled: Any = PrivateAttr(default=None)

    @property
    def label(self) -> str:
        """``name vVERSION``, used in messages."""
        return f"{self.name} v{self.version}"


# --- parsing -------------------------------------------------------------------------------------


def _format_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part.rstrip("_")
    return out


_ALIASES = {"in_": "in", "all_": "all", "any_": "any"}


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    # pydantic reports union branches and validator names as extra path parts; drop them
    cleaned: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (
            part in {"str", "int", "float", "bool", "list[...]"}
            or part.startswith("function-")
            or "[" in part
        ):
            continue
        cleaned.append(_ALIASES.get(part, part) if isinstance(part, str) else part)
    return tuple(cleaned)


def _line_of(node: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    line = None if node is None else node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if getattr(k, "value", None) == part]
            if not match:
                break
            node = match[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _semantic_problems(data: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-reference checks, run on the raw data so they are reported alongside field errors."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    for section in ("fit", "engagement"):
        part = data.get(section)
        rules = part.get("rules") if isinstance(part, Mapping) else None
        if not isinstance(rules, list):
            continue
        ids = Counter(r.get("id") for r in rules if isinstance(r, Mapping))
        for i, rule in enumerate(rules):
            if (
                isinstance(rule, Mapping)
                and isinstance(rule.get("id"), str)
                and ids[rule["id"]] > 1
            ):
                found.append(((section, "rules", i, "id"), f"duplicate rule id {rule['id']!r}"))
        if section == "engagement" and isinstance(part, Mapping):
            groups = part.get("groups") if isinstance(part.get("groups"), Mapping) else {}
            for i, rule in enumerate(rules):
                group = rule.get("group") if isinstance(rule, Mapping) else None
                if group is not None and group not in (groups or {}):
                    found.append(
                        ((section, "rules", i, "group"), f"unknown group {group!r} (declare it)")
                    )
    return found


def parse_model(text: str, source: str = "<model>") -> Model:
    """Validate a model file. Raises :class:`ModelError` listing every problem with its location.

    Locations read like ``engagement.rules[3].points (line 42)``; ``source`` names the file in
    YAML syntax errors.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else source
        reason = getattr(exc, "problem", None) or str(exc)
        raise ModelError([Problem(where, f"not valid YAML: {reason}")]) from None
    if not isinstance(data, Mapping):
        raise ModelError([Problem("", "a model must be a YAML mapping")])

    raw: list[tuple[tuple[str | int, ...], str]] = []
    model: Model | None = None
    try:
        model = Model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "is required"
            elif err["type"] == "extra_forbidden":
                msg = "is not a known key"
            raw.append((_clean_loc(err["loc"]), msg))
    raw.extend(_semantic_problems(data))
    if raw:
        problems = []
        for loc, msg in dict.fromkeys(raw):
            where = _format_loc(loc)
            line = _line_of(root, loc)
            if line is not None:
                where = f"{where} (line {line})" if where else f"line {line}"
            problems.append(Problem(where, msg))
        raise ModelError(problems)
    assert model is not None
    return model


@cache
def _default_text() -> str:
    # package data sits beside this module in wheels and editable installs alike
    return Path(__file__).with_name("models").joinpath("default.yaml").read_text("utf-8")


@cache
def default_model() -> Model:
    """The model shipped with leadscore; it reproduces the worked examples in the README.

    Parsed once and shared: a model is immutable, and sharing keeps its compiled tables warm.
    """
    return parse_model(_default_text(), source="default.yaml")


def profile_attributes(model: Model) -> frozenset[str]:
    """The profile attributes the model's fit and routing rules read, and its account rules.

    A stream worker may keep just these (and so no e-mail address when only its domain is read);
    anything else in a lead's profile cannot change this model's scores, routes or the accounts
    its leads make up (their summaries carry the firmographics the account rules read).
    """
    rules: list[ConditionSet] = [*model.fit.rules, *model.routing.rules]
    if model.accounts is not None:
        rules += [*model.accounts.fit.rules, *model.accounts.routing.rules]
    return frozenset(c.attribute for rule in rules for c in (*rule.all_, *rule.any_))
