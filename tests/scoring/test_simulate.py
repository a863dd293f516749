"""The simulator's world: companies of several contacts, anonymous browsing before
identification, and conversion signals a model can be judged against."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import orjson

from scoring.events import parse_event
from scoring.model import default_model
from scoring.offline import score_account_lines
from scoring.simulate import live_events, simulate

END = datetime(2026, 1, 1, tzinfo=UTC)


def test_accounts_have_several_contacts_sharing_firmographics() -> None:
    world = simulate(600, 30, seed=5, end=END)
    firmographics: dict[str, set[tuple[object, object]]] = defaultdict(set)
    leads: dict[str, set[str]] = defaultdict(set)
    first_profile: set[str] = set()
    for e in sorted(world.events, key=lambda e: e["event_id"]):
        if e["account_id"] is None:
            continue
        leads[e["account_id"]].add(e["lead_id"])
        if e["type"] == "profile_updated" and e["lead_id"] not in first_profile:
            first_profile.add(e["lead_id"])
            props = e["properties"]
            firmographics[e["account_id"]].add((props["industry"], props["company_size"]))
    sizes = [len(members) for members in leads.values()]
    assert max(sizes) >= 4 and sum(s >= 3 for s in sizes) >= 20
    assert all(len(found) == 1 for found in firmographics.values())
    assert {a.account_id for a in world.accounts} == set(leads)


def test_some_leads_browse_anonymously_before_they_are_identified() -> None:
    world = simulate(400, 30, seed=5, end=END, anonymous_share=0.4)
    for raw in world.events:
        parse_event(orjson.dumps(raw))  # every event keeps the contract
    visits: dict[str, list[str]] = defaultdict(list)
    links: dict[str, tuple[str, str]] = {}
    for e in world.events:
        if "anonymous_id" in e:
            visits[e["anonymous_id"]].append(e["occurred_at"])
            assert e["type"] == "page_view"
        elif e["type"] == "identified":
            links[e["properties"]["anonymous_id"]] = (e["lead_id"], e["occurred_at"])
    assert 100 <= len(links) <= 220  # about 40% of 400
    assert set(visits) <= set(links)
    assert all(max(times) < links[v][1] for v, times in visits.items())
    assert not any("anonymous_id" in e for e in simulate(400, 30, seed=5, end=END).events)


def test_buying_groups_convert_more_as_accounts() -> None:
    world = simulate(3000, 45, seed=11, end=END, anonymous_share=0.4)
    lines = [orjson.dumps(e) for e in world.events]
    scored, rejected = score_account_lines(lines, [default_model()], END, None)
    assert rejected == []
    converted = {a.account_id: a.converted for a in world.accounts}
    groups = [converted[a.account_id] for a in scored if a.engaged_contacts >= 2]
    rest = [converted[a.account_id] for a in scored if a.engaged_contacts < 2]
    assert len(groups) >= 100 and len(rest) >= 100
    assert sum(groups) / len(groups) > 2 * sum(rest) / len(rest)


def test_the_demo_stream_shows_visitors_being_identified_and_accounts_of_several_leads() -> None:
    clock = (END + timedelta(seconds=n) for n in itertools.count())
    stream = list(itertools.islice(live_events(1, 60, clock), 3000))
    for raw in stream:
        parse_event(orjson.dumps(raw), now=END + timedelta(days=1))
    visitors = {e["anonymous_id"] for e in stream if "anonymous_id" in e}
    named = {e["properties"]["anonymous_id"] for e in stream if e["type"] == "identified"}
    assert visitors and visitors <= named
    leads: dict[str, set[str]] = defaultdict(set)
    for e in stream:
        if e.get("account_id"):
            leads[e["account_id"]].add(e["lead_id"])
    assert max(len(members) for members in leads.values()) >= 3
