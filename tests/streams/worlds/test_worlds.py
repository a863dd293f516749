"""Outside worlds: the leadforge adapter's files are valid, honest about time and reproducible, and
the evaluation harness's figures mean what they say."""

from __future__ import annotations

import csv
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from scoring.events import EventType, parse_event
from scoring.history import History
from scoring.model import default_model
from streams.worlds import evaluate
from streams.worlds import leadforge as adapter

LEADS = 300


@pytest.fixture(scope="module")
def world() -> adapter.World:
    return adapter.convert(adapter.generate(seed=5, difficulty="intermediate", leads=LEADS))


def test_every_event_passes_the_event_contract(world: adapter.World) -> None:
    # the generated world is in the past, so "now" is simply the time of the check
    types = Counter(parse_event(e).type for e in world.events)
    assert types[EventType.PROFILE_UPDATED] == LEADS
    # every kind the mapping promises shows up in a world of this size
    for kind in (*adapter.TOUCH_TYPE.values(), "page_view"):
        assert types[EventType(kind)] > 0, kind
    assert len({e["event_id"] for e in world.events}) == len(world.events)


def test_profiles_carry_what_fit_rules_read(world: adapter.World) -> None:
    profiles = [parse_event(e).properties for e in world.events if e["type"] == "profile_updated"]
    assert all(p["company_size"] in adapter.BAND_SIZE.values() for p in profiles)
    assert all({"job_title", "industry", "country", "seniority"} <= p.keys() for p in profiles)
    domains = Counter(p.get("email", "@none").split("@")[1] for p in profiles)
    assert domains[adapter.PERSONAL_DOMAIN] > 0 and domains["none"] > 0


def test_one_outcome_per_lead_and_every_lead_has_events(world: adapter.World) -> None:
    leads = {e["lead_id"] for e in world.events}
    ids = [o.lead_id for o in world.outcomes]
    assert len(ids) == len(set(ids)) == LEADS
    assert set(ids) == leads
    assert 0 < sum(o.converted for o in world.outcomes) < LEADS


def test_no_event_at_or_after_its_leads_scoring_moment(world: adapter.World) -> None:
    scored_at = {o.lead_id: o.scored_at for o in world.outcomes}
    first: dict[str, datetime] = {}
    for e in world.events:
        at = parse_event(e).occurred_at
        assert at < scored_at[e["lead_id"]], e
        first.setdefault(e["lead_id"], at)
    # scored exactly 30 days after creation, the moment of the first (profile) event
    assert all((scored_at[lead] - at).days == 30 for lead, at in first.items())


def test_the_cut_drops_later_touches_and_sessions() -> None:
    """Rows on day 30 and later are in leadforge's tables but never in the events."""
    lead = _row(
        lead_id="L1",
        contact_id="C1",
        account_id="A1",
        lead_created_at="2024-01-10",
        lead_source="inbound_marketing",
        owner_rep_id="R1",
        converted_within_90_days=True,
    )
    contact = _row(
        contact_id="C1",
        job_title="CFO",
        seniority="c_suite",
        role_function="vp_finance",
        buyer_role="economic_buyer",
        email_domain_type="personal",
    )
    account = _row(
        account_id="A1",
        industry="logistics",
        region="UK",
        employee_band="500-999",
        estimated_revenue_band="$200M+",
        process_maturity_band="high",
    )

    def touch(n: int, day: str) -> Any:
        return _row(
            touch_id=f"T{n}",
            lead_id="L1",
            touch_timestamp=day,
            touch_type="call",
            touch_channel="inbound_marketing",
            touch_direction="inbound",
            campaign_id=None,
        )

    session = _row(
        session_id="S1",
        lead_id="L1",
        session_timestamp="2024-02-08",  # day 29: kept
        session_type="website",
        page_views=4,
        pricing_page_views=2,
        demo_page_views=1,
        session_duration_seconds=300,
    )
    out = adapter.convert_tables(
        [account],
        [contact],
        [lead],
        [touch(1, "2024-01-10"), touch(2, "2024-02-09"), touch(3, "2024-03-01")],
        [session],
    )
    kinds = [(e["type"], e["properties"].get("path")) for e in out.events]
    assert kinds == [
        ("profile_updated", None),
        ("meeting_booked", None),
        ("page_view", "/pricing"),
        ("page_view", "/pricing"),
        ("page_view", "/demo"),
        ("page_view", "/product"),
    ]
    profile = out.events[0]["properties"]
    assert profile["email"].endswith("@gmail.com") and profile["country"] == "GB"
    assert profile["company_size"] == 750 and profile["seniority"] == "c_suite"
    assert out.outcomes[0].converted
    assert adapter.rfc3339(out.outcomes[0].scored_at) == "2024-02-09T00:00:00Z"


def test_the_same_seed_writes_the_same_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert adapter.main(["--seed", "3", "--leads", "120", "--out", str(tmp_path / name)]) == 0
    for name in ("events.jsonl", "outcomes.csv", "world.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    other = tmp_path / "c"
    adapter.main(["--seed", "4", "--leads", "120", "--out", str(other)])
    assert (other / "events.jsonl").read_bytes() != (tmp_path / "a" / "events.jsonl").read_bytes()
    with (tmp_path / "a" / "outcomes.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["lead_id", "converted", "scored_at"] and len(rows) == 120


def test_the_files_read_back_as_calibrate_reads_them(tmp_path: Path) -> None:
    adapter.main(["--seed", "3", "--leads", "150", "--out", str(tmp_path)])
    history, outcomes = evaluate.read_world(tmp_path)
    assert len(outcomes) == 150
    assert sum(len(r) for r in history.by_lead.values()) == len(
        (tmp_path / "events.jsonl").read_bytes().splitlines()
    )


# --- the harness's metrics ------------------------------------------------------------------


def test_auc_of_a_perfect_ranking_is_one_and_of_a_reversed_one_zero() -> None:
    labels = [False, False, True, True]
    assert evaluate.auc([0.1, 0.2, 0.8, 0.9], labels) == 1.0
    assert evaluate.auc([0.9, 0.8, 0.2, 0.1], labels) == 0.0
    assert evaluate.auc([5, 5, 5, 5], labels) == 0.5  # all tied: a coin toss
    # one converted lead tied with one that did not: that pair counts half
    assert evaluate.auc([1, 2, 2, 3], labels) == pytest.approx(0.875)


def test_lift_is_top_quintile_rate_over_bottom_quintile_rate() -> None:
    # ten leads, two per quintile: bottom quintile 1 of 2 converted, top quintile 2 of 2
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    labels = [True, False, False, False, True, False, False, True, True, True]
    assert evaluate.quintile_lift(scores, labels) == pytest.approx(1.0 / 0.5)
    # a tie is never split: six leads at 0 make one bottom band of six (2 of 6 converted)
    tied = [0, 0, 0, 0, 0, 0, 50, 60, 70, 80]
    assert evaluate.quintile_lift(tied, labels) == pytest.approx(1.0 / (2 / 6))
    assert evaluate.quintile_lift(scores, [False] * 10) is None
    assert math.isinf(evaluate.quintile_lift(scores, [False] * 8 + [True] * 2) or 0)


def test_tied_shares_and_the_split() -> None:
    assert evaluate.tied_share([0, 0, 100, 40], 0) == 0.5
    assert evaluate.tied_share([0, 0, 100, 40], 100) == 0.25
    ids = [f"l{i}" for i in range(50)]
    train, test = evaluate.split(ids, 10, seed=1)
    assert len(test) == 10 and len(train) == 40 and not set(train) & set(test)
    assert evaluate.split(list(reversed(ids)), 10, seed=1) == (train, test)
    assert evaluate.split(ids, 10, seed=2)[1] != test


def test_the_harness_scores_only_held_out_leads_at_their_own_moment(
    world: adapter.World,
) -> None:
    history = History()
    for e in world.events:
        event = parse_event(e)
        history.add(
            event.event_id,
            event.lead_id,
            event.type.value,
            event.occurred_at.timestamp(),
            event.properties,
        )
    outcomes = [(o.lead_id, o.converted, o.scored_at) for o in world.outcomes]
    report = evaluate.run(history, outcomes, holdout=100, seed=0)
    assert (report["train"], report["held_out"]) == (LEADS - 100, 100)
    names = [m["model"] for m in report["models"]]
    assert names[:4] == ["default", "fitted", "logreg_counts", "boosting_counts"]
    for m in report["models"]:
        assert m["auc"] is not None and 0.0 <= m["auc"] <= 1.0
    # the default row is what the default model says of the held-out leads, nothing else
    _, test = evaluate.split([o[0] for o in outcomes], 100, 0)
    held = [o for o in outcomes if o[0] in set(test)]
    held.sort()
    scores = evaluate.model_scores(history, held, default_model())
    assert report["models"][0]["auc"] == evaluate.auc(scores, [o[1] for o in held])
    assert report["models"][0]["tied_at_0"] == evaluate.tied_share(scores, 0)


def test_identifiers_in_the_profile_are_not_one_hot_columns() -> None:
    """A made-up email per lead would give each training lead a column of its own to memorise."""
    history = History()
    outcomes = []
    for i in range(80):
        lead, at = f"l{i}", 1_700_000_000.0
        props = {"email": f"u{i}@x.example", "industry": "logistics" if i % 2 else "retail"}
        history.add(f"{lead}-p", lead, "profile_updated", at, props)
        history.add(f"{lead}-e", lead, "email_opened", at + 60, {})
        outcomes.append((lead, i % 3 == 0, datetime.fromtimestamp(at + 3600, tz=UTC)))
    seen: list[int] = []

    class Spy:
        def fit(self, x: Any, y: Any) -> None:
            seen.append(x.shape[1])

        def predict_proba(self, x: Any) -> Any:
            return np.full((x.shape[0], 2), 0.5)

    evaluate.classifier_scores(history, outcomes[:70], outcomes[70:], Spy)
    assert seen == [3]  # the email_opened count and the two industries


def _row(**fields: Any) -> Any:
    """A stand-in for one of leadforge's row dataclasses: the adapter reads rows by attribute."""
    return type("Row", (), fields)()


def test_event_lines_round_trip_through_json(world: adapter.World) -> None:
    line = orjson.dumps(world.events[1])
    assert parse_event(line).event_id == world.events[1]["event_id"]
