from __future__ import annotations

import json
from datetime import timedelta

import orjson

from scoring.events import parse_event
from scoring.model import default_model, parse_model
from scoring.offline import score_events, score_lines
from tests.support.events import T0, event, profile, seed_director_200, seed_director_500

DAY = timedelta(days=1)


def test_scores_are_sorted_by_lead_and_model() -> None:
    other = parse_model("name: aaa\nversion: 1\n")
    raw = seed_director_500("b-lead") + seed_director_200("a-lead")
    scores = score_events([parse_event(e) for e in raw], [default_model(), other], T0 + DAY / 3)
    assert [(s.lead_id, s.model) for s in scores] == [
        ("a-lead", "aaa"),
        ("a-lead", "default"),
        ("b-lead", "aaa"),
        ("b-lead", "default"),
    ]
    assert {(s.lead_id, s.model): s.score for s in scores}[("b-lead", "default")] == 85


def test_replay_keeps_hysteresis_between_rearm_and_hot() -> None:
    """Hot at 85 on day 0; by day 40 the score decayed to 77: still hot (not below rearm)."""
    raw = seed_director_500()
    [fresh] = score_events([parse_event(e) for e in raw], [default_model()], T0 + DAY / 3)
    [later] = score_events([parse_event(e) for e in raw], [default_model()], T0 + 40 * DAY)
    assert fresh.hot and fresh.score == 85
    assert 70 <= later.score < 80
    assert later.hot is True and later.route == "senior_ae"


def test_replay_notices_cooling_between_events() -> None:
    """Hot at 85; silent for 90 days it decays to ~68 (below the re-arm level 70) and cools, so a
    pricing visit that lifts it back to ~75 does not make it hot again (that needs 80)."""
    raw = seed_director_500()
    raw.append(event("page_view", T0 + 90 * DAY, "seed-1", path="/pricing"))
    [score] = score_events([parse_event(e) for e in raw], [default_model()], T0 + 90 * DAY)
    assert 70 <= score.score < 80
    assert score.hot is False and score.route is None


def test_events_after_at_are_ignored() -> None:
    raw = [*seed_director_200(), event("meeting_booked", T0 + 2 * DAY, "seed-2")]
    [score] = score_events([parse_event(e) for e in raw], [default_model()], T0 + DAY)
    assert score.score == 30


def test_score_lines_reports_bad_lines_and_scores_the_rest() -> None:
    lines = [orjson.dumps(e) for e in seed_director_200()]
    lines += [b"", b"{broken", json.dumps(profile(company_size="x")).encode()]
    scores, rejected = score_lines(lines, [default_model()], T0 + DAY)
    assert [s.score for s in scores] == [30]
    assert [n for n, _ in rejected] == [3, 4]
    assert "properties.company_size" in rejected[1][1]


def test_partitions_together_equal_the_whole() -> None:
    raw = [e for i in range(30) for e in seed_director_500(f"lead-{i:02d}")]
    raw += [e for i in range(30) for e in seed_director_200(f"cold-{i:02d}")]
    lines = [orjson.dumps(e) for e in raw] + [b"nonsense", b'{"lead_id": "lead-03"}']
    whole, whole_rejected = score_lines(lines, [default_model()], T0 + DAY)
    pieces = [score_lines(lines, [default_model()], T0 + DAY, part=p, parts=3) for p in range(3)]
    merged = sorted((s for scores, _ in pieces for s in scores), key=lambda s: s.lead_id)
    assert merged == whole
    assert sorted(r for _, rejected in pieces for r in rejected) == whole_rejected
    assert [n for n, _ in whole_rejected] == [len(raw) + 1, len(raw) + 2]
