"""The worked examples of the domain documents, through the engine (requirements, not samples)."""

from __future__ import annotations

from datetime import timedelta

from scoring.engine import evaluate, update_hot
from scoring.model import default_model
from tests.support.events import T0, build, seed_director_200, seed_director_500

END_OF_DAY = T0 + timedelta(hours=8)


def test_seed_director_at_500_person_saas_scores_85_and_goes_to_a_senior_ae() -> None:
    model = default_model()
    state = build(seed_director_500(), model)
    score = evaluate(state, model, END_OF_DAY)
    assert score.score == 85
    assert score.fit == 40
    assert round(score.engagement) == 45
    assert score.grade == "A1"
    assert score.hot is True
    assert score.route == "senior_ae"
    transition = update_hot(state, score, model)
    assert transition is not None and transition.kind == "hot" and transition.crossing == 1


def test_seed_explanation_names_the_seed_rules_with_their_points() -> None:
    score = evaluate(build(seed_director_500()), default_model(), END_OF_DAY)
    points = {c.rule: c.points for c in score.explanation}
    assert points == {
        "senior_title": 20,
        "target_industry": 10,
        "company_201_1000": 10,
        "pricing_page": 20,
        "webinar_attended": 20,
        "email_opened_3plus": 5,
    }
    assert sum(points.values()) == score.score


def test_seed_director_at_200_person_saas_has_fit_30() -> None:
    score = evaluate(build(seed_director_200()), default_model(), END_OF_DAY)
    assert score.fit == 30
    assert score.engagement == 0
    assert score.score == 30
    assert score.grade == "B3"
    assert score.hot is False and score.route is None


def test_seed_point_values_of_the_default_model() -> None:
    """Pricing +10, demo video +15, email opened 3+ times +5, VP or Director +20."""
    model = default_model()
    rules = {r.id: r for r in model.engagement.rules}
    assert rules["pricing_page"].points == 10
    assert rules["demo_video"].points == 15
    assert rules["email_opened_3plus"].points == 5
    assert rules["email_opened_3plus"].min_count == 3
    assert {r.id: r.points for r in model.fit.rules}["senior_title"] == 20
