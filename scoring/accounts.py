"""Account scoring: the buying group, from what each of its leads looks like right now.

B2B deals are bought by several people. An account is scored from a small summary of each of its
leads (:class:`Member`), never from raw events, so the account side needs nothing but the latest
summary per lead, whatever order the summaries arrive in:

- **fit**: the model's ``accounts.fit`` rules over the account's firmographics, each attribute's
  latest value across its leads;
- **engagement**: the sum of the ``top`` most engaged leads' engagement (each decayed from its
  own time by the model's decay, as the lead's own would), capped;
- **engaged contacts**: leads whose engagement reached ``min_engagement`` at an event at most
  ``within_days`` old;
- **hot** when the score reaches ``hot`` or the engaged contacts reach ``min_engaged_contacts``,
  with hysteresis like leads (numbered crossings, cooling, re-arming).

A lead's account is the ``account_id`` of its latest event that carries one (see
:func:`latest_account`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scoring import decay
from scoring.conditions import Matcher
from scoring.explain import Contribution, Part, explain
from scoring.model import AccountsSection, Model
from scoring.thresholds import Transition

DAY = 86400.0


# When a lead joined its account: the (time, tie) of the event that named the account, as
# :func:`latest_account` orders them. A lead that leaves names the (time, tie) that moved it.
Since = tuple[float, int]


@dataclass(frozen=True, slots=True)
class Member:
    """One lead as its account sees it: the lead's score and engagement at its latest event
    (``t``), and its firmographic attributes with the time each was set.

    ``since`` says which of the lead's memberships the summary belongs to (a lead may leave an
    account and come back); ``seq`` orders the summaries the lead sent within one membership
    (an event older than the lead's latest, or a visitor's, changes the summary but not ``t``).
    Offline, where each lead has one summary in its final account, both stay at zero.
    """

    lead_id: str
    score: int
    engagement: float
    t: float
    profile: Mapping[str, tuple[Any, float]] = field(default_factory=dict)
    since: Since = (0.0, 0)
    seq: int = 0


def _rank(member: Member) -> tuple[Since, int, float, int, float]:
    """Which of two summaries of a lead is newer: by membership, then the order the lead sent
    them in, then time, then a total order on the rest."""
    return member.since, member.seq, member.t, member.score, member.engagement


@dataclass(slots=True)
class AccountState:
    """What the account side remembers: the latest summary of each lead, when each lead that
    left did so (so that older news arriving late cannot bring it back), and hysteresis.

    Every change keeps a maximum (a summary by :func:`_rank`, a departure by its ``since``), so
    any arrival order of the same summaries and departures, repeats included, ends the same.
    """

    account_id: str
    members: dict[str, Member] = field(default_factory=dict)
    hot: bool = False
    crossings: int = 0
    left: dict[str, Since] = field(default_factory=dict)

    def update(self, member: Member) -> bool:
        """Keep ``member`` unless a summary at least as recent, or a later departure, is held;
        False when stale."""
        gone = self.left.get(member.lead_id)
        if gone is not None and gone >= member.since:
            return False
        held = self.members.get(member.lead_id)
        if held is not None and _rank(held) >= _rank(member):
            return False
        self.members[member.lead_id] = member
        return True

    def leave(self, lead_id: str, since: Since) -> bool:
        """The lead moved to another account by the event ``since`` names: drop it unless it
        joined again later; False when that changes nothing."""
        gone = self.left.get(lead_id)
        if gone is not None and gone >= since:
            return False
        self.left[lead_id] = since
        held = self.members.get(lead_id)
        if held is not None and held.since < since:
            del self.members[lead_id]
        return True


@dataclass(frozen=True, slots=True)
class AccountScore:
    """An account's score under one model at one time, explained."""

    account_id: str
    model: str
    at: datetime
    score: int
    fit: float
    engagement: float
    engaged_contacts: int
    members: tuple[tuple[str, int], ...]  # the top leads with their scores
    hot: bool
    route: str | None
    explanation: tuple[Contribution, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``leadscore score --accounts`` and ``GET /accounts/{id}``."""
        return {
            "account_id": self.account_id,
            "score": self.score,
            "fit": round(self.fit, 2),
            "engagement": round(self.engagement, 2),
            "engaged_contacts": self.engaged_contacts,
            "members": [{"lead_id": lead, "score": score} for lead, score in self.members],
            "hot": self.hot,
            "route": self.route,
            "model": self.model,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "explanation": [c.to_dict() for c in self.explanation],
        }


def latest_account(
    current: tuple[str, float, int] | None, account_id: str | None, t: float, tie: int
) -> tuple[str, float, int] | None:
    """A lead's account after an event: the account of its latest event carrying one, ties
    broken like profile attributes, so any arrival order gives the same account."""
    if account_id is None:
        return current
    if current is None or (t, tie) > (current[1], current[2]):
        return account_id, t, tie
    return current


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


def _firmographics(members: Iterable[Member]) -> dict[str, Any]:
    latest: dict[str, tuple[Any, float]] = {}
    for member in sorted(members, key=lambda m: m.lead_id):
        for name, (value, t) in member.profile.items():
            if value is not None and (name not in latest or t > latest[name][1]):
                latest[name] = (value, t)
    return {name: value for name, (value, _) in latest.items()}


# Compiled once per section. The entry holds the section itself: keyed by id() alone, a section
# freed and another made at the same address would be scored with the first one's rules.
_MATCHERS: dict[int, tuple[AccountsSection, list[Matcher]]] = {}


def _matchers(section: AccountsSection) -> tuple[list[Matcher], list[Matcher]]:
    key = id(section)
    entry = _MATCHERS.get(key)
    if entry is None or entry[0] is not section:
        found = [r.compile() for r in section.fit.rules] + [
            r.compile() for r in section.routing.rules
        ]
        entry = _MATCHERS[key] = (section, found)
    found = entry[1]
    cut = len(section.fit.rules)
    return found[:cut], found[cut:]


def engaged(member: Member, section: AccountsSection, at: float) -> bool:
    """Whether a lead counts as an engaged contact of its account at ``at``."""
    rule = section.engaged_contacts
    return member.engagement >= rule.min_engagement and at - member.t <= rule.within_days * DAY


def _fit(
    members: Sequence[Member], section: AccountsSection
) -> tuple[dict[str, Any], list[Part], float]:
    """The firmographic view, the fit rules it matches, and the bounded fit: they do not age."""
    view = _firmographics(members)
    fit_match, _ = _matchers(section)
    parts = [
        Part(r.id, "fit", r.points, r.description or f"account fit rule {r.id}")
        for r, match in zip(section.fit.rules, fit_match, strict=True)
        if match(view)
    ]
    return view, parts, _clamp(math.fsum(p.points for p in parts), section.fit.min, section.fit.max)


def _engagement(
    members: Sequence[Member], model: Model, section: AccountsSection, at_s: float
) -> tuple[list[Member], dict[str, float], int]:
    """As of ``at_s``: the top leads by engagement, every lead's engagement, and the count of
    engaged contacts."""
    k = model.decay.per_second
    now = {m.lead_id: m.engagement * decay.factor(k, at_s - m.t) for m in members}
    ranked = sorted(members, key=lambda m: (-now[m.lead_id], -m.score, m.lead_id))
    top = [m for m in ranked[: section.engagement.top] if now[m.lead_id] > 0]
    contacts = sum(1 for m in members if engaged(m, section, at_s))
    return top, now, contacts


def _total(
    fit: float, top: list[Member], now: Mapping[str, float], section: AccountsSection
) -> tuple[float, float, float]:
    """The engagement before and after its cap, and the bounded total."""
    eng_raw = math.fsum(now[m.lead_id] for m in top)
    eng = min(eng_raw, section.engagement.cap)
    return eng_raw, eng, _clamp(fit + eng, 0.0, 100.0)


def _round(total: float) -> int:
    return math.floor(round(total, 6) + 0.5)


def evaluate_account(
    state: AccountState, model: Model, at: datetime, explained: bool = True
) -> AccountScore:
    """Score an account as of ``at``; pure (the hysteresis memory is read, not written).

    ``explained=False`` leaves the explanation empty, as for leads: the worker re-scores every
    account its leads tell of, but needs the reasons only for those that cross a threshold.
    """
    section = model.accounts
    if section is None:
        raise ValueError(f"model {model.label} has no accounts section")
    members = list(state.members.values())
    view, parts, fit = _fit(members, section)
    top, now, contacts = _engagement(members, model, section, at.timestamp())
    eng_raw, eng, total = _total(fit, top, now, section)
    score = _round(total)
    hot = is_account_hot(state.hot, score, contacts, section)
    route = None
    if hot:
        route = section.routing.default
        _, route_match = _matchers(section)
        for rule, match in zip(section.routing.rules, route_match, strict=True):
            needed = rule.min_engaged_contacts
            if match(view) and (needed is None or contacts >= needed):
                route = rule.route
                break
    explanation: tuple[Contribution, ...] = ()
    if explained:
        fit_raw = math.fsum(p.points for p in parts)
        if fit != fit_raw:
            parts.append(Part("fit_cap", "adjustment", fit - fit_raw, "account fit bound"))
        parts += [
            Part(
                f"lead:{m.lead_id}", "engagement", now[m.lead_id], f"engagement of lead {m.lead_id}"
            )
            for m in top
        ]
        if eng != eng_raw:
            parts.append(
                Part("engagement_cap", "adjustment", eng - eng_raw, "account engagement cap")
            )
        if total != fit + eng:
            parts.append(Part("score_cap", "adjustment", total - fit - eng, "score within 0-100"))
        wanted = section.engaged_contacts
        note = Contribution(
            "engaged_contacts",
            "note",
            0,
            f"{contacts} engaged contacts (engagement >= {wanted.min_engagement:g} within "
            f"{wanted.within_days:g} days)",
        )
        explanation = (*explain(parts, score), note)
    by_score = sorted(state.members.values(), key=lambda m: (-m.score, m.lead_id))
    shown = tuple((m.lead_id, m.score) for m in by_score[: section.members_shown])
    return AccountScore(
        state.account_id,
        model.name,
        at.astimezone(UTC),
        score,
        round(fit, 9),
        round(eng, 9),
        contacts,
        shown,
        hot,
        route,
        explanation,
    )


def is_account_hot(was_hot: bool, score: int, contacts: int, section: AccountsSection) -> bool:
    """Hot status after a score and engaged-contact count, given the status before."""
    rule = section.thresholds
    needed = rule.min_engaged_contacts
    by_contacts = needed is not None and contacts >= needed
    if was_hot:
        return by_contacts or (rule.rearm is not None and score >= rule.rearm)
    return by_contacts or (rule.hot is not None and score >= rule.hot)


def step_account(state: AccountState, result: AccountScore) -> Transition | None:
    """Record ``result`` in the account's hysteresis memory; the transition, if any."""
    if result.hot == state.hot:
        return None
    state.hot = result.hot
    if result.hot:
        state.crossings += 1
        return Transition("hot", state.crossings)
    return Transition("cooled", state.crossings)


def account_attributes(section: AccountsSection) -> frozenset[str]:
    """The firmographic attributes the account fit and routing rules read: what a lead's summary
    carries to its account."""
    rules = [*section.fit.rules, *section.routing.rules]
    return frozenset(c.attribute for rule in rules for c in (*rule.all_, *rule.any_))


COOLING_HORIZON = 3650 * DAY


def account_cools_at(state: AccountState, model: Model, now: datetime) -> datetime | None:
    """For a hot account, the earliest time >= ``now`` it would cool if no lead changed.

    Both ways of staying hot only wane with time (engagement decays, engaged contacts age out of
    their window), so the first moment it is no longer hot is found by bisection to the second;
    None when it is not hot or would still be hot after ten years.
    """
    section = model.accounts
    if section is None or not state.hot:
        return None

    members = list(state.members.values())
    fit = _fit(members, section)[2]

    def hot_at(t: float) -> bool:  # the score and contacts alone: this runs some 30 times
        top, engagement, contacts = _engagement(members, model, section, t)
        score = _round(_total(fit, top, engagement, section)[2])
        return is_account_hot(state.hot, score, contacts, section)

    low = now.timestamp()
    if not hot_at(low):
        return now
    high = low + COOLING_HORIZON
    if hot_at(high):
        return None
    while high - low > 1.0:
        mid = (low + high) / 2
        if hot_at(mid):
            low = mid
        else:
            high = mid
    return datetime.fromtimestamp(math.ceil(high), tz=UTC)
