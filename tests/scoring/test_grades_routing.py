from __future__ import annotations

from scoring.grades import band, grade
from scoring.model import GradeBand, Grades, default_model, parse_model
from scoring.routing import route


def test_grade_matrix_of_the_default_model() -> None:
    grades = default_model().grades
    cases = {
        (40, 45): "A1",
        (35, 35): "A1",
        (34.9, 34.9): "B2",
        (20, 15): "B2",
        (19, 14): "C3",
        (-30, 0): "C3",
        (50, 10): "A3",
        (0, 50): "C1",
    }
    assert {k: "".join(grade(*k, grades)) for k in cases} == cases


def test_band_falls_through_to_the_last_grade() -> None:
    bands = [GradeBand(name="hi", min=10), GradeBand(name="lo")]
    assert band(10, bands) == "hi" and band(-1e9, bands) == "lo"
    assert Grades().fit[0].name == "A"


def test_default_routing_sends_big_high_fit_leads_to_a_senior_ae() -> None:
    routing = default_model().routing
    assert route(routing, "A", "1", {"company_size": 500}) == "senior_ae"
    assert route(routing, "A", "2", {"company_size": 499}) == "sdr_queue"
    assert route(routing, "B", "1", {"company_size": 5000}) == "sdr_queue"


def test_routing_rules_by_grade_and_attributes_first_match_wins() -> None:
    routing = parse_model(
        """
        name: r
        version: 1
        routing:
          default: null
          rules:
            - {route: emea_team, grade: [A1, B1], attribute: country, in: [DE, FR]}
            - {route: enterprise, engagement_grade: ['1'], any: [{attribute: tier, equals: ent}]}
            - {route: everyone_else_hot, fit_grade: [A, B]}
        """
    ).routing
    assert route(routing, "A", "1", {"country": "de", "tier": "ent"}) == "emea_team"
    assert route(routing, "C", "1", {"country": "de", "tier": "ent"}) == "enterprise"
    assert route(routing, "B", "2", {}) == "everyone_else_hot"
    assert route(routing, "C", "2", {}) is None
