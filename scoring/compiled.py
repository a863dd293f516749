"""A model compiled into fast lookup tables.

The per-event path must be cheap (a million events in seconds), so everything that depends only on
the model is worked out once: regexes are compiled, the rules interested in each signal are listed,
and the page category of each path is remembered.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from scoring.conditions import Matcher, _norm
from scoring.events import EventType
from scoring.model import ANY_EVENT, DAY, EngagementRule, Model

PAGE_VIEW = EventType.PAGE_VIEW.value
OTHER_CATEGORY = "other"
OWN_SIGNAL_PREFIX = "r:"
MAX_RECENT = 32  # event times kept per signal, at most, for window rules


@dataclass(frozen=True, slots=True)
class FitRuleC:
    id: str
    points: float
    match: Matcher
    description: str


@dataclass(frozen=True, slots=True)
class EngagementRuleC:
    index: int
    id: str
    points: float
    cap: float | None
    group: str | None
    min_count: int | None
    description: str
    signal_filter: Callable[[str], bool]
    max_count: int | None = None
    within: float | None = None  # seconds of the window
    since: tuple[float, float] | None = None  # days_since_last as seconds [low, high)
    distinct: tuple[float, float] | None = None  # distinct_signals band [low, high]


def signal_key(event_type: str, category: str | None) -> str:
    """The rule-independent signal an event feeds: its type, plus the category for page views."""
    return f"{PAGE_VIEW}:{category}" if event_type == PAGE_VIEW else event_type


@lru_cache(maxsize=1 << 16)
def path_of(url: str) -> str:
    """The path of a URL (or the string itself when it is already a path), lower-cased."""
    if url.startswith("/"):
        path = url.split("?", 1)[0].split("#", 1)[0]
    else:
        path = urlsplit(url).path or "/"
    return path.lower()


def _signal_filter(rule: EngagementRule) -> Callable[[str], bool]:
    if rule.needs_own_signal:
        own = OWN_SIGNAL_PREFIX + rule.id
        return lambda key: key == own
    if rule.event is EventType.PAGE_VIEW:
        if rule.page_category is not None:
            wanted = signal_key(PAGE_VIEW, rule.page_category)
            return lambda key: key == wanted
        return lambda key: key.startswith(PAGE_VIEW + ":")
    if rule.event == ANY_EVENT:
        return lambda key: not key.startswith(OWN_SIGNAL_PREFIX)
    event = str(rule.event)
    return lambda key: key == event


def _compile_rule(index: int, r: EngagementRule) -> EngagementRuleC:
    since = None
    if r.days_since_last is not None:
        low, high = r.days_since_last.min, r.days_since_last.max
        since = ((low or 0.0) * DAY, math.inf if high is None else high * DAY)
    distinct = None
    if r.distinct_signals is not None:
        low, high = r.distinct_signals.min, r.distinct_signals.max
        distinct = (low or 0.0, math.inf if high is None else high)
    return EngagementRuleC(
        index,
        r.id,
        r.points,
        r.cap,
        r.group,
        r.min_count,
        r.description,
        _signal_filter(r),
        r.max_count,
        None if r.within_days is None else r.within_days * DAY,
        since,
        distinct,
    )


def recent_depth(rules: Sequence[EngagementRule]) -> int:
    """How many of each signal's latest event times the state keeps for the window rules.

    Enough to count every window exactly up to its highest count bin (and a per-event window up to
    its cap); 0 without window rules, so models without them keep the state as small as before.
    """
    depth = 0
    for r in rules:
        if r.within_days is None:
            continue
        if r.distinct_signals is not None:
            need = 1  # a signal is in the window when its latest time is
        elif r.min_count is not None:
            need = (r.max_count or r.min_count) + 1
        elif r.cap is not None and r.points:
            need = math.ceil(r.cap / abs(r.points)) + 1
        else:
            need = MAX_RECENT
        depth = max(depth, min(need, MAX_RECENT))
    return depth


def _event_filter(rule: EngagementRule) -> Callable[[str | None, str, Mapping[str, Any]], bool]:
    """For rules with their own signal: does an event (category, path, properties) match?"""
    pattern = re.compile(rule.path_pattern) if rule.path_pattern else None
    wanted_props = {
        key: frozenset(_norm(v) for v in (value if isinstance(value, list) else [value]))
        for key, value in (rule.properties or {}).items()
    }
    category = rule.page_category

    def matches(cat: str | None, path: str, props: Mapping[str, Any]) -> bool:
        if category is not None and cat != category:
            return False
        if pattern is not None and pattern.search(path) is None:
            return False
        return all(_norm(props.get(k)) in vals for k, vals in wanted_props.items())

    return matches


class CompiledModel:
    """Lookup tables for one model; obtain through :func:`compiled`."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.decay_k = model.decay.per_second
        self.fit_rules = [
            FitRuleC(r.id, r.points, r.compile(), r.description) for r in model.fit.rules
        ]
        self.engagement_rules = [_compile_rule(i, r) for i, r in enumerate(model.engagement.rules)]
        self.recent_depth = recent_depth(model.engagement.rules)
        self.own_signal_rules: dict[str, list[tuple[str, Any]]] = {}
        for r in model.engagement.rules:
            if r.needs_own_signal:
                self.own_signal_rules.setdefault(str(r.event), []).append(
                    (OWN_SIGNAL_PREFIX + r.id, _event_filter(r))
                )
        self._categories = [
            (c.category, [re.compile(p) for p in c.patterns]) for c in model.page_categories
        ]
        self._category_cache: dict[str, str] = {}
        self._rules_for_signal: dict[str, tuple[EngagementRuleC, ...]] = {}
        self.route_matchers = [r.compile() for r in model.routing.rules]
        self.group_caps = {name: g.cap for name, g in model.engagement.groups.items()}

    def category_of(self, path: str) -> str:
        """The page category of a path by the model's rules; first match wins, else ``other``."""
        found = self._category_cache.get(path)
        if found is None:
            found = OTHER_CATEGORY
            for name, patterns in self._categories:
                if any(p.search(path) for p in patterns):
                    found = name
                    break
            if len(self._category_cache) < 1 << 16:
                self._category_cache[path] = found
        return found

    def rules_for_signal(self, key: str) -> tuple[EngagementRuleC, ...]:
        """The engagement rules fed by a signal (cached; unknown signals feed none)."""
        found = self._rules_for_signal.get(key)
        if found is None:
            found = tuple(r for r in self.engagement_rules if r.signal_filter(key))
            self._rules_for_signal[key] = found
        return found

    def signals_of(self, event_type: str, props: Mapping[str, Any]) -> Sequence[str]:
        """Every signal an event feeds: the rule-independent one plus any rule-specific ones."""
        if event_type != PAGE_VIEW and event_type not in self.own_signal_rules:
            return (event_type,)
        category: str | None = None
        path = ""
        if event_type == PAGE_VIEW:
            raw = props.get("path")
            if not isinstance(raw, str):
                raw = props.get("url")
            path = path_of(raw) if isinstance(raw, str) else ""
            given = props.get("page_category")
            category = given.strip().lower() if isinstance(given, str) else self.category_of(path)
        keys = [signal_key(event_type, category)]
        own = self.own_signal_rules.get(event_type)
        if own:
            keys.extend(key for key, matches in own if matches(category, path, props))
        return keys


def compiled(model: Model) -> CompiledModel:
    """The compiled tables of a model, built on first use and cached on the model instance."""
    private = model.__pydantic_private__  # read directly: attribute access is slow per event
    found: CompiledModel | None = private.get("_compiled") if private is not None else None
    if found is None or found.model is not model:  # a copy (model_copy) carries its source's
        found = CompiledModel(model)
        model._compiled = found
    return found
