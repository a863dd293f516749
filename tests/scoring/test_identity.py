"""Anonymous visitors and identity merge, offline: the contract, arrival order, moves, redelivery.

The same functions back ``leadscore score`` and ``calibrate``; whatever order the ``identified``
event and the anonymous events come in, and however often, a lead's score is the same.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.compiled import compiled
from scoring.engine import apply_event, quick_score
from scoring.events import line_fields, parse_event
from scoring.history import History
from scoring.identity import combine
from scoring.model import Model, default_model
from scoring.offline import score_events, score_lines
from scoring.state import LeadState
from tests.support.events import T0, anonymous, identified, seed_director_500
from tests.support.identity import AT, WINDOWS, stories

HOUR = timedelta(hours=1)


# -- the acceptance story -----------------------------------------------------------------------


def _story() -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    """Three anonymous pricing views, the identification, and the seed Director's profile."""
    views = [
        anonymous("page_view", "anon-7", T0 - timedelta(days=1) + n * HOUR, path="/pricing")
        for n in range(3)
    ]
    seed = seed_director_500("lead-7")
    profile_only = [e for e in seed if e["type"] == "profile_updated"]
    return views, identified("lead-7", "anon-7", T0 + HOUR), profile_only


def _score(events: list[dict[str, Any]], lead: str = "lead-7") -> Any:
    scores = score_events([parse_event(e) for e in events], [default_model()], AT)
    return next(s for s in scores if s.lead_id == lead)


def test_identification_counts_earlier_anonymous_views_whatever_comes_first() -> None:
    views, link, profile_only = _story()
    last = _score([*profile_only, *views, link])
    first = _score([link, *profile_only, *views])
    alone = _score(profile_only)
    assert first.score == last.score > alone.score
    assert any(c.rule == "pricing_page" for c in last.explanation)
    assert any(c.kind == "identity" and "anon-7" in c.detail for c in last.explanation)


def test_anonymous_views_before_an_identification_are_not_counted_before_it() -> None:
    views, link, profile_only = _story()
    history = History()
    for raw in [*profile_only, *views, link]:
        fields = line_fields(orjson.dumps(raw), raw, None, None)
        assert fields is not None
        history.add(*fields)
    model = default_model()
    before = history.score("lead-7", model, T0)  # the views happened, the identification not yet
    after = history.score("lead-7", model, AT)
    assert before.score == _score(profile_only).score
    assert after.score == _score([*profile_only, *views, link]).score


def test_a_later_identification_moves_the_visitor_and_says_so() -> None:
    views, link, profile_only = _story()
    moved = identified("lead-8", "anon-7", T0 + 2 * HOUR)
    scores = score_events(
        [parse_event(e) for e in [*profile_only, *views, link, moved]], [default_model()], AT
    )
    by_lead = {s.lead_id: s for s in scores}
    assert by_lead["lead-7"].score == _score(profile_only).score
    assert not any(c.kind == "identity" for c in by_lead["lead-7"].explanation)
    notes = [c.detail for c in by_lead["lead-8"].explanation if c.kind == "identity"]
    assert notes == ["anonymous visitor anon-7 identified on 2026-03-02, moved from lead lead-7"]
    assert by_lead["lead-8"].engagement > 0


def test_files_split_between_workers_score_merged_leads_as_one_does() -> None:
    views, link, profile_only = _story()
    others = [identified(f"lead-{n}", f"anon-{n}", T0) for n in range(20)]
    lines = [orjson.dumps(e) for e in [*views, link, *profile_only, *others]]
    lines.append(orjson.dumps(anonymous("page_view", "anon-x", path=7)))  # a bad anonymous line
    whole, rejected = score_lines(lines, [default_model()], AT)
    parts = [score_lines(lines, [default_model()], AT, part=p, parts=3) for p in range(3)]
    split = sorted((s for scores, _ in parts for s in scores), key=lambda s: s.lead_id)
    assert [s.to_dict() for s in split] == [s.to_dict() for s in whole]
    assert sorted(r for _, rs in parts for r in rs) == rejected and len(rejected) == 1


# -- any arrival order, any redelivery ------------------------------------------------------------


def _all_scores(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    parsed = [parse_event(e) for e in events]
    return [s.to_dict() for s in score_events(parsed, [default_model(), WINDOWS], AT)]


@settings(max_examples=150, deadline=None)
@given(stories(), st.randoms(use_true_random=False))
def test_scores_do_not_depend_on_arrival_order_or_repeats(
    events: list[dict[str, Any]], rnd: Any
) -> None:
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert _all_scores(shuffled) == _all_scores(events)
    once = list({e["event_id"]: e for e in events}.values())
    assert [(s["lead_id"], s["score"]) for s in _all_scores(once)] == [
        (s["lead_id"], s["score"]) for s in _all_scores(events)
    ]


# -- the live worker's view: each visitor's state apart, combined when scored ---------------------


@settings(max_examples=150, deadline=None)
@given(stories(), st.randoms(use_true_random=False), st.sampled_from([default_model(), WINDOWS]))
def test_combining_visitor_states_equals_folding_every_record_into_one(
    events: list[dict[str, Any]], rnd: Any, model: Model
) -> None:
    cm = compiled(model)
    parsed = [parse_event(e) for e in events if e["type"] != "identified"]
    rnd.shuffle(parsed)
    together = LeadState.new("L")
    apart: dict[str, LeadState] = {}
    for e in parsed:
        apply_event(together, e, model)
        apply_event(apart.setdefault(e.key, LeadState.new(e.key)), e, model)
    keys = sorted(apart)
    rnd.shuffle(keys)
    own = apart.pop(keys[0])
    combined = combine(own, [apart[k] for k in keys[1:]], cm)
    assert combined.seen == together.seen
    assert combined.recent == together.recent
    assert combined.profile == together.profile
    assert combined.signals.keys() == together.signals.keys()
    for key, (n, value, ref) in together.signals.items():
        assert combined.signals[key][0] == n and combined.signals[key][2] == ref
        assert combined.signals[key][1] == pytest.approx(value, rel=1e-9)
    at = AT.timestamp()
    assert quick_score(combined, cm, at) == quick_score(together, cm, at)
    assert own.signals.keys() <= combined.signals.keys()  # the parts are read, not changed
