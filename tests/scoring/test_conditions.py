from __future__ import annotations

from typing import Any

import pytest

from scoring.conditions import Condition, ConditionSet


def matches(spec: dict[str, Any], profile: dict[str, Any]) -> bool:
    return Condition.model_validate(spec).compile()(profile)


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("VP of Engineering", True),
        ("Senior Director, Sales", True),
        ("director", True),
        ("SVP Office Manager", False),
        ("Directorate assistant", False),
        (None, False),
    ],
)
def test_contains_is_case_insensitive_and_word_aware(title: str | None, expected: bool) -> None:
    assert (
        matches({"attribute": "job_title", "contains": ["VP", "Director"]}, {"job_title": title})
        is expected
    )


def test_contains_accepts_a_single_string() -> None:
    assert matches({"attribute": "job_title", "contains": "Head of"}, {"job_title": "Head of IT"})


def test_equals_and_in_compare_strings_case_insensitively_and_numbers_exactly() -> None:
    assert matches({"attribute": "industry", "equals": "SaaS"}, {"industry": " saas "})
    assert matches({"attribute": "industry", "in": ["saas", "software"]}, {"industry": "Software"})
    assert not matches({"attribute": "industry", "in": ["saas"]}, {"industry": "retail"})
    assert matches({"attribute": "tier", "equals": 2}, {"tier": 2.0})
    assert not matches({"attribute": "tier", "equals": 2}, {"tier": "2x"})
    assert not matches({"attribute": "flag", "equals": 1}, {"flag": True})


def test_range_is_inclusive_and_numeric_only() -> None:
    band = {"attribute": "company_size", "range": {"min": 201, "max": 1000}}
    assert [matches(band, {"company_size": n}) for n in (200, 201, 1000, 1001)] == [
        False,
        True,
        True,
        False,
    ]
    assert not matches(band, {"company_size": "500"})
    assert matches({"attribute": "company_size", "range": {"min": 1001}}, {"company_size": 10**6})


def test_exists() -> None:
    assert matches({"attribute": "email", "exists": True}, {"email": "a@b.c"})
    assert matches({"attribute": "email", "exists": False}, {})


def test_condition_sets_combine_all_and_any() -> None:
    spec = ConditionSet.model_validate(
        {
            "all": [{"attribute": "industry", "equals": "saas"}],
            "any": [
                {"attribute": "country", "equals": "DE"},
                {"attribute": "company_size", "range": {"min": 1000}},
            ],
        }
    ).compile()
    assert spec({"industry": "saas", "country": "de"})
    assert spec({"industry": "saas", "company_size": 5000})
    assert not spec({"industry": "saas", "country": "fr"})
    assert not spec({"industry": "retail", "country": "de"})
