from __future__ import annotations

from datetime import timedelta

import pytest

from scoring.compiled import compiled
from scoring.engine import apply_event, cools_at, evaluate, quick_score, update_hot
from scoring.events import parse_event
from scoring.model import default_model, parse_model
from scoring.state import LeadState
from tests.support.events import T0, build, event, profile

DAY = timedelta(days=1)


def hot_lead(lead: str = "lead-1") -> list[dict[str, object]]:
    """Fit 40 + engagement 40 (pricing 20, demo video 15, 3+ opens 5) = exactly 80, hot."""
    return [
        profile(T0, lead, job_title="VP Sales", company_size=600, industry="software"),
        event("page_view", T0, lead, path="/pricing"),
        event("page_view", T0, lead, path="/pricing"),
        event("demo_video_watched", T0, lead),
        *[event("email_opened", T0, lead) for _ in range(3)],
    ]


def test_repeated_event_id_counts_once() -> None:
    model = default_model()
    state = LeadState.new("lead-1")
    raw = parse_event(event("page_view", path="/pricing", event_id="same"))
    assert apply_event(state, raw, model) is True
    before = state.to_bytes()
    assert apply_event(state, raw, model) is False
    assert state.to_bytes() == before
    assert evaluate(state, model, T0).engagement == 10


def test_six_months_of_silence_cools_a_hot_lead() -> None:
    model = default_model()
    state = build(hot_lead(), model)
    then = evaluate(state, model, T0)
    assert (then.score, then.hot) == (80, True)
    assert update_hot(state, then, model) is not None and state.hot

    later = evaluate(state, model, T0 + 180 * DAY)
    assert later.fit == then.fit == 40
    assert later.engagement == pytest.approx(40 * 0.85**6, rel=1e-9)
    assert later.hot is False and later.route is None
    transition = update_hot(state, later, model)
    assert transition is not None and (transition.kind, transition.crossing) == ("cooled", 1)
    assert state.hot is False and state.crossings == 1


def test_cools_at_finds_the_first_second_below_rearm() -> None:
    model = default_model()
    state = build(hot_lead(), model)
    update_hot(state, evaluate(state, model, T0), model)
    when = cools_at(state, model, T0)
    assert when is not None and when > T0
    assert evaluate(state, model, when).score < model.thresholds.rearm
    assert evaluate(state, model, when - timedelta(seconds=2)).score >= model.thresholds.rearm
    # 40 + 40 * 0.85 ** (d / 30) drops below 69.5 after 30 * ln(0.7375) / ln(0.85) = 56.2 days
    assert 56 * DAY < when - T0 < 57 * DAY


def test_cools_at_none_when_not_hot_or_fit_alone_keeps_it_hot() -> None:
    model = default_model()
    state = build(hot_lead(), model)
    assert cools_at(state, model, T0) is None  # hysteresis memory says not hot yet
    generous = parse_model(
        """
        name: generous
        version: 1
        thresholds: {hot: 30, rearm: 20}
        fit: {rules: [{id: vp, points: 35, attribute: job_title, contains: VP}]}
        """
    )
    state = build([profile(job_title="VP")], generous)
    update_hot(state, evaluate(state, generous, T0), generous)
    assert state.hot and cools_at(state, generous, T0) is None


def test_hysteresis_crossing_dip_and_second_crossing() -> None:
    model = parse_model(
        """
        name: steps
        version: 1
        decay: {rate: 0}
        thresholds: {hot: 80, rearm: 70}
        fit: {max: 100, rules: [{id: base, points: 75, attribute: industry, equals: saas}]}
        engagement:
          rules:
            - {id: plus, event: form_submitted, points: 10}
            - {id: minus, event: email_unsubscribed, points: -8}
        """
    )
    state = build([profile(industry="saas")], model)
    seen = []

    def feed(event_type: str) -> None:
        apply_event(state, parse_event(event(event_type)), model)
        score = evaluate(state, model, T0)
        transition = update_hot(state, score, model)
        seen.append((score.score, score.hot, transition and (transition.kind, transition.crossing)))

    feed("form_submitted")  # 85: hot, first crossing
    feed("email_unsubscribed")  # 77: between rearm and hot -> still hot, no new crossing
    feed("form_submitted")  # 87: still hot
    feed("email_unsubscribed")  # 79
    feed("email_unsubscribed")  # 71
    feed("email_unsubscribed")  # 63: below rearm -> cooled
    feed("form_submitted")  # 73: not hot again yet
    feed("form_submitted")  # 83: second crossing
    assert seen == [
        (85, True, ("hot", 1)),
        (77, True, None),
        (87, True, None),
        (79, True, None),
        (71, True, None),
        (63, False, ("cooled", 1)),
        (73, False, None),
        (83, True, ("hot", 2)),
    ]


def test_explanations_always_sum_to_the_score() -> None:
    model = default_model()
    lead = [
        profile(T0 - 40 * DAY, job_title="Head of Data", company_size=77, email="x@gmail.com"),
        *[
            event("page_view", T0 - i * 3 * DAY, path=p)
            for i, p in enumerate(
                ["/pricing", "/blog/a", "/blog/b", "/careers", "/integrations", "/demo", "/vs/x"]
            )
        ],
        event("webinar_registered", T0 - 9 * DAY),
        event("webinar_attended", T0 - 8 * DAY),
        event("content_downloaded", T0 - 20 * DAY),
    ]
    for days in (0, 1, 17, 90, 400):
        score = evaluate(build(lead, model), model, T0 + days * DAY)
        assert sum(c.points for c in score.explanation) == score.score
        assert all(c.detail for c in score.explanation)


def test_score_is_clamped_at_zero_with_an_adjustment() -> None:
    lead = [
        profile(seniority="student", email="kid@gmail.com", company_size=3),
        event("email_unsubscribed"),
    ]
    score = evaluate(build(lead), default_model(), T0)
    assert score.score == 0
    assert score.fit == -45 and score.engagement == -25
    assert score.explanation[-1].rule == "score_cap" and score.explanation[-1].points == 70
    assert sum(c.points for c in score.explanation) == 0


def test_events_after_at_do_not_count_as_negative_age() -> None:
    model = default_model()
    state = build([event("page_view", T0 + DAY, path="/pricing")], model)
    assert evaluate(state, model, T0).engagement == 10  # never more than the undecayed points


def test_several_models_score_the_same_events_by_name() -> None:
    strict = parse_model(
        """
        name: enterprise
        version: "2026.03"
        engagement:
          rules: [{id: pricing, event: page_view, page_category: pricing, points: 3}]
        page_categories: [{category: pricing, patterns: ['^/pricing']}]
        fit: {rules: [{id: big, points: 50, attribute: company_size, range: {min: 1000}}]}
        """
    )
    events = [profile(company_size=5000), event("page_view", path="/pricing")]
    by_name = {m.name: evaluate(build(events, m), m, T0) for m in (default_model(), strict)}
    assert by_name["default"].score == 15 + 10
    assert by_name["enterprise"].score == 53
    assert by_name["enterprise"].model_version == "2026.03"


def test_to_dict_shape() -> None:
    score = evaluate(build(hot_lead()), default_model(), T0 + 7 * DAY)
    doc = score.to_dict()
    assert set(doc) >= {
        "lead_id",
        "score",
        "fit",
        "engagement",
        "grade",
        "hot",
        "route",
        "model",
        "explanation",
    }
    assert doc["engagement"] == round(score.engagement, 2)
    assert doc["explanation"][0] == {
        "rule": "senior_title",
        "kind": "fit",
        "points": 20,
        "detail": "Title says VP or Director (or the CRM says so)",
    }


def test_a_base_is_where_every_lead_starts_and_its_own_line() -> None:
    model = default_model().model_copy(update={"base": 30.0})
    empty = evaluate(LeadState.new("nobody"), model, T0)
    assert empty.score == 30
    assert [(c.rule, c.kind, c.points) for c in empty.explanation] == [("base", "base", 30)]
    lead = build(hot_lead(), model)
    plain = evaluate(build(hot_lead()), default_model(), T0)
    based = evaluate(lead, model, T0)
    assert based.score == min(plain.score + 30, 100)
    assert based.explanation[0].rule == "base"
    assert sum(c.points for c in based.explanation) == based.score
    assert (based.fit, based.engagement) == (plain.fit, plain.engagement)  # grades unchanged


def test_a_negative_base_lowers_every_lead_alike() -> None:
    model = default_model().model_copy(update={"base": -10.0})
    plain = evaluate(build(hot_lead()), default_model(), T0)
    assert evaluate(build(hot_lead(), model), model, T0).score == plain.score - 10


def test_a_copied_model_is_compiled_anew() -> None:
    model = default_model()
    evaluate(LeadState.new("x"), model, T0)  # compiles and caches on the instance
    copy = model.model_copy(update={"base": 12.0})
    state = build(hot_lead(), copy)
    assert compiled(copy).model is copy
    assert quick_score(state, compiled(copy), T0.timestamp()) == evaluate(state, copy, T0).score
