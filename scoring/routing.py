"""Routing: which queue or owner a hot lead goes to. Rules are tried in order; first match wins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scoring.conditions import Matcher
from scoring.model import Routing


def route(
    routing: Routing,
    fit_grade: str,
    engagement_grade: str,
    profile: Mapping[str, Any],
    matchers: Sequence[Matcher] | None = None,
) -> str | None:
    """The route of the first matching rule, else the default.

    ``matchers`` are the compiled conditions of the rules (see ``rules.CompiledModel``).
    """
    if matchers is None:
        matchers = [rule.compile() for rule in routing.rules]
    for rule, matches in zip(routing.rules, matchers, strict=True):
        if rule.fit_grade is not None and fit_grade not in rule.fit_grade:
            continue
        if rule.engagement_grade is not None and engagement_grade not in rule.engagement_grade:
            continue
        if rule.grade is not None and fit_grade + engagement_grade not in rule.grade:
            continue
        if matches(profile):
            return rule.route
    return routing.default
