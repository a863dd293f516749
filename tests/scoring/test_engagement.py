from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from scoring.engine import evaluate
from scoring.model import Model, default_model, parse_model
from tests.support.events import T0, build, event

H = timedelta(hours=1)


def eng(
    events: list[dict[str, object]], model: Model | None = None, at: datetime = T0 + H
) -> float:
    model = model or default_model()
    return evaluate(build(events, model), model, at).engagement


def points(events: list[dict[str, object]], model: Model | None = None) -> dict[str, int]:
    model = model or default_model()
    score = evaluate(build(events, model), model, T0)
    return {c.rule: c.points for c in score.explanation if c.kind == "engagement"}


def test_points_per_event_and_per_rule_cap() -> None:
    views = [event("page_view", T0, path="/pricing") for _ in range(3)]
    assert points(views[:1]) == {"pricing_page": 10}
    assert points(views) == {"pricing_page": 20}  # 3 x 10 capped at 20


def test_page_category_is_derived_from_path_or_url_unless_given() -> None:
    assert points([event("page_view", T0, url="https://x.example/Compare/acme?a=1")]) == {
        "competitor_comparison": 15
    }
    assert points([event("page_view", T0, path="/docs/integrations/hubspot")]) == {
        "integration_docs": 8
    }
    assert points([event("page_view", T0, path="/x", page_category="pricing")]) == {
        "pricing_page": 10
    }
    assert points([event("page_view", T0, path="/features")]) == {}


def test_path_pattern_rule_has_its_own_signal() -> None:
    found = points([event("page_view", T0, path="/pricing/enterprise")])
    assert found == {"pricing_page": 10, "enterprise_pricing": 5}


def test_negative_points_for_unsubscribe_and_careers() -> None:
    assert points([event("email_unsubscribed", T0)]) == {"unsubscribed": -25}
    assert points([event("page_view", T0, path="/careers/jobs-1")]) == {"careers_page": -10}
    # a negative rule cap bounds the magnitude
    careers = [event("page_view", T0, path="/careers") for _ in range(5)]
    assert points(careers) == {"careers_page": -20}


def test_frequency_rule_fires_from_the_nth_event_only() -> None:
    opens = [event("email_opened", T0 - i * H) for i in range(4)]
    assert points(opens[:2]) == {}
    assert points(opens[:3]) == {"email_opened_3plus": 5}
    assert points(opens) == {"email_opened_3plus": 5}


def test_frequency_rule_decays_from_the_latest_matching_event() -> None:
    day = timedelta(days=1)
    opens = [
        event("email_opened", T0 - 60 * day),
        event("email_opened", T0 - 45 * day),
        event("email_opened", T0 - 30 * day),
    ]
    assert eng(opens, at=T0) == pytest.approx(5 * 0.85, rel=1e-12)


def test_group_cap_scales_members_proportionally() -> None:
    events = [event("webinar_registered", T0), event("webinar_attended", T0)]
    score = evaluate(build(events), default_model(), T0)
    assert score.engagement == pytest.approx(20)  # 5 + 20 scaled to the group cap 20
    details = {c.rule: c for c in score.explanation}
    assert details["webinar_registered"].points + details["webinar_attended"].points == 20
    assert details["webinar_attended"].points == 16  # 20 * 20/25
    assert "group webinar capped at 20" in details["webinar_attended"].detail


def test_property_filter_rule() -> None:
    model = parse_model(
        """
        name: product
        version: 1
        engagement:
          rules:
            - {id: sso_setup, event: product_usage, properties: {feature: [sso, scim]}, points: 7}
            - {id: any_usage, event: product_usage, points: 1}
        """
    )
    events = [event("product_usage", T0, feature="SSO"), event("product_usage", T0, feature="x")]
    assert points(events, model) == {"sso_setup": 7, "any_usage": 2}


def test_intent_beats_vanity() -> None:
    """40 email opens score less engagement than one pricing and one competitor page."""
    opens = [event("email_opened", T0 - i * H) for i in range(40)]
    intent = [event("page_view", T0, path="/pricing"), event("page_view", T0, path="/vs/acme")]
    assert eng(opens) < eng(intent)
    assert eng(opens) == pytest.approx(5, rel=1e-3)


def test_an_email_only_lead_stays_below_hot() -> None:
    lead = [event("email_opened", T0 - i * H) for i in range(100)]
    lead += [event("email_clicked", T0 - i * H) for i in range(20)]
    lead.append(event("profile_updated", T0, job_title="VP", company_size=5000, industry="saas"))
    score = evaluate(build(lead), default_model(), T0 + H)
    assert score.fit == 45 and score.score < default_model().thresholds.hot


def test_engagement_is_clamped_with_an_adjustment_line() -> None:
    lead = [
        event("meeting_booked", T0),
        event("demo_video_watched", T0),
        event("page_view", T0, path="/pricing"),
        event("page_view", T0, path="/compare/x"),
    ]
    score = evaluate(build(lead), default_model(), T0)
    assert score.engagement == 50
    assert [(c.rule, c.points) for c in score.explanation if c.kind == "adjustment"] == [
        ("engagement_cap", -20)
    ]
    assert sum(c.points for c in score.explanation) == score.score == 50
