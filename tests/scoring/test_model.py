from __future__ import annotations

import textwrap

import pytest

from scoring.errors import ModelError
from scoring.model import default_model, parse_model

MINIMAL = """
name: tiny
version: 3
"""


def errors(text: str) -> dict[str, str]:
    with pytest.raises(ModelError) as info:
        parse_model(textwrap.dedent(text))
    return {p.location: p.reason for p in info.value.problems}


def test_default_model_is_valid_and_versioned() -> None:
    model = default_model()
    assert (model.name, model.version) == ("default", 1)
    assert (model.thresholds.hot, model.thresholds.rearm) == (80, 70)
    assert (model.decay.rate, model.decay.period_days) == (0.15, 30)
    assert (model.fit.max, model.engagement.max) == (50, 50)


def test_minimal_model_gets_defaults() -> None:
    model = parse_model(MINIMAL)
    assert model.label == "tiny v3"
    assert model.thresholds.hot == 80 and model.decay.rate == 0.15
    assert model.routing.default == "sdr_queue"
    assert [b.name for b in model.grades.fit] == ["A", "B", "C"]


def test_every_problem_is_reported_with_location_and_line() -> None:
    found = errors(
        """
        name: broken
        version: 1
        thresholds: {hot: 70, rearm: 75}
        fit:
          rules:
            - {id: a, points: 5, attribute: industry, in: [saas], equals: saas}
            - {id: a, points: ten, attribute: company_size, range: {min: 10, max: 5}}
        engagement:
          rules:
            - {id: p, event: page_view, points: 10}
            - {id: q, event: email_opened, points: 1, page_category: pricing}
            - {id: r, event: telepathy, points: 1, group: nowhere}
            - {id: s, event: page_view, points: 1, path_pattern: '(', min_count: 1}
        """
    )
    assert found == {
        "thresholds (line 4)": "rearm must be lower than hot",
        "fit.rules[0].all[0] (line 7)": (
            "a condition needs exactly one of equals, in, contains, range, exists"
            " (found equals, in)"
        ),
        "fit.rules[1].points (line 8)": (
            "Input should be a valid number, unable to parse string as a number"
        ),
        "fit.rules[1].all[0].range (line 8)": "min must not exceed max",
        "fit.rules[0].id (line 7)": "duplicate rule id 'a'",
        "fit.rules[1].id (line 8)": "duplicate rule id 'a'",
        "engagement.rules[1] (line 12)": (
            "page_category and path_pattern only apply to page_view rules"
        ),
        "engagement.rules[2].event (line 13)": found["engagement.rules[2].event (line 13)"],
        "engagement.rules[2].group (line 13)": "unknown group 'nowhere' (declare it)",
        "engagement.rules[3].path_pattern (line 14)": found[
            "engagement.rules[3].path_pattern (line 14)"
        ],
        "engagement.rules[3].min_count (line 14)": "must be at least 2, unless max_count or "
        "within_days is set",
    }
    assert "page_view" in found["engagement.rules[2].event (line 13)"]
    assert "regular expression" in found["engagement.rules[3].path_pattern (line 14)"]


def test_unknown_keys_and_missing_keys() -> None:
    found = errors("name: x\nfitt: {}\nengagement: {rules: [{id: a, points: 1}]}\n")
    assert found == {
        "version (line 1)": "is required",
        "fitt (line 2)": "is not a known key",
        "engagement.rules[0].event (line 3)": "is required",
    }


def test_grades_must_run_from_high_to_low() -> None:
    found = errors(
        """
        name: x
        version: 1
        grades:
          fit: [{name: A, min: 10}, {name: B, min: 20}, {name: C}]
          engagement: [{name: '1', min: 10}]
        """
    )
    assert found == {
        "grades.fit (line 5)": "grades must be listed from highest min to lowest",
        "grades.engagement (line 6)": "the last (lowest) grade must not have a min",
    }


def test_yaml_syntax_error_has_a_line() -> None:
    found = errors("name: x\nversion: [1\n")
    [(where, why)] = found.items()
    assert where.startswith("line ") and why.startswith("not valid YAML")


def test_not_a_mapping() -> None:
    assert errors("- 1\n- 2\n") == {"": "a model must be a YAML mapping"}


def test_engagement_rules_cannot_use_profile_updates() -> None:
    found = errors(
        "name: x\nversion: 1\nengagement: {rules: [{id: a, event: profile_updated, points: 1}]}\n"
    )
    assert found == {
        "engagement.rules[0].event (line 3)": "profile updates feed fit rules, not engagement rules"
    }


def test_fit_rule_needs_a_condition() -> None:
    found = errors("name: x\nversion: 1\nfit: {rules: [{id: a, points: 1}]}\n")
    assert found == {
        "fit.rules[0] (line 3)": "a fit rule needs a condition (attribute, all or any)"
    }
