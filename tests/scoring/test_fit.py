from __future__ import annotations

from datetime import timedelta
from typing import Any

from scoring.compiled import compiled
from scoring.engine import evaluate
from scoring.model import default_model, parse_model
from tests.support.events import T0, build, profile


def fit_of(**props: Any) -> float:
    return evaluate(build([profile(**props)]), default_model(), T0).fit


def test_company_size_bands() -> None:
    sizes = {5: -10, 30: -5, 200: 0, 201: 10, 500: 10, 1000: 10, 1001: 15}
    assert {n: fit_of(company_size=n) for n in sizes} == sizes


def test_title_or_seniority_earns_senior_points_once() -> None:
    assert fit_of(job_title="VP Marketing") == 20
    assert fit_of(seniority="c_suite") == 20
    assert fit_of(job_title="Director", seniority="director") == 20
    assert fit_of(job_title="Engineer") == 0


def test_negative_fit_for_students_personal_mail_and_competitors() -> None:
    assert fit_of(seniority="student") == -20
    assert fit_of(email="sam@Gmail.com") == -15
    assert fit_of(email="spy@competitor.example", company_size=500) == -40


def test_later_profile_updates_win_field_by_field_in_any_order() -> None:
    early = profile(T0, job_title="Engineer", company_size=50, industry="SaaS")
    late = profile(T0 + timedelta(days=3), job_title="Director of IT")
    for order in ([early, late], [late, early]):
        score = evaluate(build(order), default_model(), T0 + timedelta(days=4))
        # Director +20, SaaS +10, 11-50 employees -5: the title changed, the rest stayed
        assert score.fit == 25


def test_custom_crm_attributes_can_be_matched() -> None:
    model = parse_model(
        """
        name: crm
        version: 1
        fit:
          rules:
            - {id: partner_sourced, points: 12, attribute: lead_source, equals: partner}
            - {id: big_budget, points: 8, attribute: budget_k, range: {min: 100}}
        """
    )
    state = build([profile(lead_source="Partner", budget_k=250.0)], model)
    assert evaluate(state, model, T0).fit == 20


def test_fit_is_clamped_and_the_clamp_is_explained() -> None:
    model = parse_model(
        """
        name: clamp
        version: 1
        fit:
          max: 30
          rules:
            - {id: a, points: 25, attribute: industry, equals: saas}
            - {id: b, points: 25, attribute: country, equals: de}
        """
    )
    score = evaluate(build([profile(industry="saas", country="DE")], model), model, T0)
    assert score.fit == 30 and score.score == 30
    assert [(c.rule, c.kind, c.points) for c in score.explanation] == [
        ("a", "fit", 25),
        ("b", "fit", 25),
        ("fit_cap", "adjustment", -20),
    ]


def test_fit_does_not_decay() -> None:
    state = build([profile(job_title="VP Sales", company_size=500, industry="SaaS")])
    assert evaluate(state, default_model(), T0 + timedelta(days=3650)).fit == 40


def test_a_fit_rule_without_description_explains_itself_in_words() -> None:
    result = evaluate(
        build([profile(company_size=500, seniority="student", industry="Retail")]),
        default_model(),
        T0,
    )
    details = {c.rule: c.detail for c in result.explanation}
    assert details["company_201_1000"] == "company_size is 201 to 1000: +10"
    assert details["student"] == (
        'seniority is "student" or job_title contains "student" or "intern": -20'
    )


def test_every_condition_shape_has_words() -> None:
    model = parse_model(
        """
name: words
version: 1
fit:
  rules:
    - {id: big, points: 5, attribute: company_size, range: {min: 1001}}
    - {id: small, points: -5, attribute: company_size, range: {max: 10}}
    - {id: known_phone, points: 1, attribute: phone, exists: true}
    - {id: flag, points: 2, attribute: partner, equals: true}
    - id: mixed
      points: 3
      all: [{attribute: country, in: [de, fr]}]
      any: [{attribute: industry, equals: saas}, {attribute: industry, equals: fintech}]
"""
    )
    words = {r.id: r.description for r in compiled(model).fit_rules}
    assert words == {
        "big": "company_size is at least 1001: +5",
        "small": "company_size is at most 10: -5",
        "known_phone": "phone is known: +1",
        "flag": "partner is true: +2",
        "mixed": 'country is "de" or "fr" and (industry is "saas" or industry is "fintech"): +3',
    }
