"""Account scoring: the buying group from its leads' summaries, in any order, with hysteresis."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.accounts import (
    AccountState,
    Member,
    account_cools_at,
    evaluate_account,
    latest_account,
    step_account,
)
from scoring.errors import ModelError
from scoring.model import default_model, parse_model
from tests.support.events import T0

DAY = 86400.0
AT = T0 + timedelta(days=1)
FIRMO = {"industry": ("SaaS", T0.timestamp()), "company_size": (500, T0.timestamp())}


def member(lead: str, engagement: float, score: int = 60, days_ago: float = 1.0) -> Member:
    return Member(lead, score, engagement, AT.timestamp() - days_ago * DAY, FIRMO)


def test_three_engaged_contacts_make_an_account_hot_though_no_lead_is_hot() -> None:
    model = default_model()
    account = AccountState("acct-1")
    for n in range(2):
        account.update(member(f"lead-{n}", 25))
    two = evaluate_account(account, model, AT)
    assert (two.engaged_contacts, two.hot, step_account(account, two)) == (2, False, None)
    account.update(member("lead-2", 21))
    three = evaluate_account(account, model, AT)
    assert three.engaged_contacts == 3 and three.hot and three.route == "account_team"
    transition = step_account(account, three)
    assert transition is not None and (transition.kind, transition.crossing) == ("hot", 1)
    assert step_account(account, evaluate_account(account, model, AT)) is None  # once only
    assert all(score < 80 for _, score in three.members)
    assert three.score == 20 + 60  # firmographic fit 20, engagement 25+25+21 capped at 60
    assert sum(c.points for c in three.explanation) == three.score
    assert three.explanation[-1].detail.startswith("3 engaged contacts")


def test_an_account_cools_when_its_contacts_go_quiet_and_re_arms() -> None:
    model = default_model()
    account = AccountState("acct-1")
    for n in range(3):
        account.update(member(f"lead-{n}", 25))
    step_account(account, evaluate_account(account, model, AT))
    later = AT + timedelta(days=400)  # quiet, and their engagement decayed
    cooled = step_account(account, evaluate_account(account, model, later))
    assert cooled is not None and (cooled.kind, cooled.crossing) == ("cooled", 1)
    for n in range(3):
        account.update(Member(f"lead-{n}", 60, 30, later.timestamp(), FIRMO))
    again = step_account(account, evaluate_account(account, model, later))
    assert again is not None and (again.kind, again.crossing) == ("hot", 2)


def test_stale_summaries_and_departures_do_not_undo_newer_ones() -> None:
    account = AccountState("acct-1")
    assert account.update(member("lead-1", 30, days_ago=1))
    assert not account.update(member("lead-1", 5, days_ago=2))  # older news
    assert account.members["lead-1"].engagement == 30
    joined = Member("lead-1", 60, 30, AT.timestamp(), FIRMO, since=(AT.timestamp() - DAY, 7))
    assert account.update(joined)  # a later membership outranks the first
    assert account.leave("lead-1", (AT.timestamp() - 3 * DAY, 1))  # left the first membership
    assert account.members["lead-1"] == joined
    assert account.leave("lead-1", (AT.timestamp(), 2))
    assert account.members == {}
    assert not account.update(joined)  # older news arriving late cannot bring it back
    assert not account.leave("lead-1", (AT.timestamp(), 2))  # a repeat


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 40), st.integers(0, 40)),
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_the_account_score_does_not_depend_on_arrival_order_or_repeats(
    updates: list[tuple[str, int, int]], rnd: Any
) -> None:
    summaries = [member(lead, eng, days_ago=age) for lead, eng, age in updates]
    shuffled = summaries + summaries[: len(summaries) // 2]
    rnd.shuffle(shuffled)
    first, second = AccountState("x"), AccountState("x")
    for m in summaries:
        first.update(m)
    for m in shuffled:
        second.update(m)
    model = default_model()
    assert evaluate_account(first, model, AT) == evaluate_account(second, model, AT)


def test_a_lead_account_is_that_of_its_latest_event_carrying_one() -> None:
    events = [("acct-1", 10.0, 1), (None, 30.0, 2), ("acct-2", 20.0, 3), ("acct-3", 5.0, 4)]
    for order in (events, events[::-1], events[1:] + events[:1]):
        found = None
        for account, t, tie in order:
            found = latest_account(found, account, t, tie)
        assert found == ("acct-2", 20.0, 3)


def test_account_thresholds_need_a_hot_score_or_a_contact_count() -> None:
    text = "name: m\nversion: 1\naccounts:\n  thresholds: {rearm: 50}\n"
    with pytest.raises(ModelError, match="set hot, min_engaged_contacts or both"):
        parse_model(text)
    model = parse_model("name: m\nversion: 1\naccounts:\n  thresholds: {hot: 70}\n")
    assert model.accounts is not None and model.accounts.thresholds.rearm == 60


_members = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.floats(-10, 80, allow_nan=False),
        st.integers(0, 100),
        st.floats(0, 60, allow_nan=False),
    ),
    min_size=1,
    max_size=6,
)


def _account(rows: list[tuple[str, float, int, float]], hot: bool) -> AccountState:
    account = AccountState("x", hot=hot)
    for lead, engagement, score, age in rows:
        account.update(member(lead, engagement, score, days_ago=age))
    return account


@settings(max_examples=150, deadline=None)
@given(_members, st.booleans(), st.floats(0, 90, allow_nan=False))
def test_an_unexplained_account_score_is_the_explained_one_without_reasons(
    rows: list[tuple[str, float, int, float]], hot: bool, days: float
) -> None:
    """The worker scores accounts unexplained, and explains only those that cross."""
    account, model = _account(rows, hot), default_model()
    at = AT + timedelta(days=days)
    full = evaluate_account(account, model, at)
    assert evaluate_account(account, model, at, explained=False) == replace(full, explanation=())
    assert sum(c.points for c in full.explanation) == full.score


@settings(max_examples=100, deadline=None)
@given(_members)
def test_an_account_cools_within_a_second_of_when_its_full_score_stops_being_hot(
    rows: list[tuple[str, float, int, float]],
) -> None:
    """The cooling search scores with the bare sums; the full score must agree with it."""
    account, model = _account(rows, hot=True), default_model()
    due = account_cools_at(account, model, AT)
    if due is None:
        assert evaluate_account(account, model, AT + timedelta(days=3650)).hot
        return
    assert not evaluate_account(account, model, due).hot
    if due > AT + timedelta(seconds=2):  # found to the second, rounded up
        assert evaluate_account(account, model, due - timedelta(seconds=2)).hot
