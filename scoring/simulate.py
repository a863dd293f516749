"""A synthetic world of leads, for calibration, demos, tests and benchmarks.

Each lead has two hidden traits: *fit* (drawn from its company size, industry, seniority and mail
domain) and *intent* (how close it is to buying). Intent drives what the lead does: buyers read the
pricing and comparison pages, watch demos and book meetings; browsers read the blog and open emails.
Whether a lead converts depends on the hidden traits only, never on the model's points, so a scoring
model can be judged against it honestly. The same seed always produces the same world.

Leads come in companies (accounts) of one to five contacts sharing the company's size, industry and
mail domain. Some companies are *in market*: their contacts' intent rises together, and such a
buying group converts as an account more often than a company where one person browses alone.
Before they identify themselves, some leads browse anonymously (``anonymous_id``), and an
``identified`` event links the visitor to the lead when the lead first fills in a form.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

_INDUSTRIES = (
    ("SaaS", 0.3),
    ("Software", 0.15),
    ("Retail", 0.15),
    ("Manufacturing", 0.15),
    ("Healthcare", 0.1),
    ("Education", 0.1),
    ("Consulting", 0.05),
)
_GOOD_INDUSTRIES = frozenset({"SaaS", "Software"})
_TITLES = (
    ("Chief Technology Officer", "c_suite", 0.04),
    ("VP of Sales", "vp", 0.08),
    ("Director of Engineering", "director", 0.14),
    ("Engineering Manager", "manager", 0.22),
    ("Software Engineer", "individual_contributor", 0.4),
    ("Student", "student", 0.12),
)
_SENIORITY_FIT = {
    "c_suite": 1.0,
    "vp": 0.9,
    "director": 0.8,
    "manager": 0.4,
    "individual_contributor": 0.1,
    "student": -0.8,
}
_PERSONAL = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com")
_COUNTRIES = ("US", "GB", "DE", "FR", "CA", "IN", "BR", "AU")
_SOURCES = ("organic", "paid_search", "referral", "event", "partner")
# A custom CRM field: teams already on a real CRM are readier to buy a scoring engine. No rule of
# the default model reads it, so calibration has a genuine signal to discover.
_CRMS = (("salesforce", 0.3), ("hubspot", 0.25), ("pipedrive", 0.1), ("spreadsheet", 0.35))
_CRM_FIT = {"salesforce": 0.15, "hubspot": 0.15, "pipedrive": 0.05, "spreadsheet": -0.1}

# Page paths by category; the model derives the category from the path.
_PAGES = {
    "pricing": ("/pricing", "/pricing/enterprise", "/plans"),
    "competitor_comparison": ("/compare/rivalscore", "/vs/legacy-crm", "/alternatives"),
    "integration_docs": ("/docs/integrations/salesforce", "/integrations/hubspot", "/docs/api"),
    "demo": ("/demo", "/request-demo"),
    "blog": ("/blog/lead-scoring-101", "/blog/decay", "/resources/articles/icp"),
    "careers": ("/careers", "/jobs/backend-engineer"),
    "other": ("/", "/about", "/customers", "/features"),
}


@dataclass(frozen=True, slots=True)
class Outcome:
    lead_id: str
    converted: bool
    scored_at: datetime


@dataclass(frozen=True, slots=True)
class AccountOutcome:
    account_id: str
    converted: bool
    scored_at: datetime


@dataclass(frozen=True, slots=True)
class Simulation:
    events: list[dict[str, Any]]
    outcomes: list[Outcome]
    accounts: list[AccountOutcome] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Company:
    """What a company's contacts share, and whether it is in market (hidden)."""

    number: int
    industry: str
    size: int
    in_market: bool

    @property
    def account_id(self) -> str:
        return f"acct-{self.number:06d}"

    @property
    def domain(self) -> str:
        return f"company{self.number}.example"


# Share of leads who browse anonymously before they identify themselves (``leadscore simulate``
# and the demo; ``simulate()`` keeps its worlds all-known unless asked, for the tests that key by
# lead).
ANONYMOUS_SHARE = 0.4
_CONTACTS = ((1, 0.45), (2, 0.25), (3, 0.15), (4, 0.1), (5, 0.05))
_IN_MARKET = 0.25
_PAGE_ACTIONS = ("pricing", "competitor_comparison", "integration_docs", "demo", "blog", "other")


def _weighted(rng: random.Random, table: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    pick = rng.random() * sum(row[-1] for row in table)
    for row in table:
        pick -= row[-1]
        if pick <= 0:
            return row
    return table[-1]


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds").replace("+00:00", "Z")


def _behaviour(intent: float) -> tuple[tuple[str, float], ...]:
    """What a session of a lead with this intent consists of, as (action, weight)."""
    return (
        ("page:pricing", 0.2 + 2.5 * intent),
        ("page:competitor_comparison", 0.05 + 1.2 * intent),
        ("page:integration_docs", 0.1 + 0.8 * intent),
        ("page:demo", 0.02 + 0.5 * intent),
        ("page:blog", 1.2),
        ("page:careers", 0.15 * (1 - intent)),
        ("page:other", 1.0),
        ("email_opened", 2.0),
        ("email_clicked", 0.3 + 0.4 * intent),
        ("webinar_registered", 0.1 + 0.2 * intent),
        ("webinar_attended", 0.05 + 0.3 * intent),
        ("content_downloaded", 0.3),
        ("demo_video_watched", 0.02 + 0.4 * intent),
        ("form_submitted", 0.05 + 0.3 * intent),
        ("meeting_booked", 0.15 * intent**2),
        ("product_usage", 0.1 * intent),
        ("email_unsubscribed", 0.03 * (1 - intent)),
    )


def new_company(rng: random.Random, number: int) -> Company:
    """A company: its industry and size, and whether it is in market."""
    industry = _weighted(rng, _INDUSTRIES)[0]
    size = max(1, int(math.exp(rng.gauss(5.0, 1.6))))
    return Company(number, industry, size, rng.random() < _IN_MARKET)


def iter_lead(
    rng: random.Random,
    index: int,
    start: datetime,
    days: float,
    prefix: str = "lead",
    company: Company | None = None,
    anonymous_share: float = 0.0,
) -> tuple[list[dict[str, Any]], float, float]:
    """One lead's events, with its hidden fit and intent (both in 0..1).

    With ``company`` the lead shares its firmographics and account; in-market companies raise
    their contacts' intent. With ``anonymous_share`` that share of leads first browse as an
    anonymous visitor, identified when their profile is first created.
    """
    lead_id = f"{prefix}-{index:06d}"
    company = company or new_company(rng, index)
    industry, size = company.industry, company.size
    title, seniority, _ = _weighted(rng, _TITLES)
    personal = rng.random() < 0.15
    domain = rng.choice(_PERSONAL) if personal else company.domain
    crm = _weighted(rng, _CRMS)[0]
    fit = (
        _CRM_FIT[crm]
        + 0.35 * _SENIORITY_FIT[seniority]
        + 0.25 * (industry in _GOOD_INDUSTRIES)
        + 0.25 * min(math.log10(size) / 3.5, 1.0)
        - 0.3 * personal
    )
    fit = min(max(fit + rng.gauss(0, 0.1), 0.0), 1.0)
    boost = 0.2 if company.in_market else 0.0
    intent = min(max(rng.betavariate(1.2, 3.0) + 0.25 * (fit - 0.4) + boost, 0.0), 1.0)

    events: list[dict[str, Any]] = []
    first = start + timedelta(seconds=rng.random() * days * 86400 * 0.5)
    span = (start + timedelta(days=days) - first).total_seconds()
    seq = 0
    account = None if personal else company.account_id

    def emit(kind: str, at: datetime, props: dict[str, Any], visitor: str | None = None) -> None:
        nonlocal seq
        seq += 1
        subject = {"anonymous_id": visitor} if visitor else {"lead_id": lead_id}
        events.append(
            {
                "event_id": f"{lead_id}-{seq:04d}",
                **subject,
                "type": kind,
                "occurred_at": _iso(at),
                "account_id": None if visitor else account,
                "properties": props,
            }
        )

    behaviour = _behaviour(intent)
    if anonymous_share > 0 and rng.random() < anonymous_share:
        visitor = f"anon-{lead_id}"
        browsing = [(a, w) for a, w in behaviour if a.removeprefix("page:") in _PAGE_ACTIONS]
        earliest = max(start, first - timedelta(days=7))
        window = (first - earliest).total_seconds()
        for _ in range(1 + int(rng.expovariate(1.0 / (0.5 + 2 * intent)))):
            at = earliest + timedelta(seconds=rng.random() * window)
            for _ in range(1 + int(rng.expovariate(0.6))):
                at += timedelta(seconds=rng.randint(5, 300))
                if at >= first:
                    break
                path = rng.choice(_PAGES[_weighted(rng, tuple(browsing))[0].removeprefix("page:")])
                emit("page_view", at, {"path": path}, visitor)
        emit("identified", first, {"anonymous_id": visitor})
    emit(
        "profile_updated",
        first,
        {
            "job_title": title,
            "seniority": seniority,
            "company_size": size,
            "industry": industry,
            "country": rng.choice(_COUNTRIES),
            "email": f"user{index}@{domain}",
            "lead_source": rng.choice(_SOURCES),
            "crm": crm,
        },
    )
    sessions = 1 + int(rng.expovariate(1.0 / (1.5 + 8 * intent)))
    end = start + timedelta(days=days)
    for _ in range(sessions):
        at = first + timedelta(seconds=rng.random() * span)
        for _ in range(1 + int(rng.expovariate(0.5))):
            action = _weighted(rng, behaviour)[0]
            at += timedelta(seconds=rng.randint(5, 600))
            if at > end:  # the world ends at `end`: nothing may happen after it
                break
            if action.startswith("page:"):
                path = rng.choice(_PAGES[action.removeprefix("page:")])
                emit("page_view", at, {"path": path})
            elif action.startswith("webinar"):
                emit(action, at, {"webinar_id": f"web-{rng.randint(1, 6)}"})
            elif action.startswith("email"):
                emit(action, at, {"campaign": f"nurture-{rng.randint(1, 9)}"})
            elif action == "product_usage":
                emit(action, at, {"feature": rng.choice(("import", "scoring", "api"))})
            else:
                emit(action, at, {})
    if rng.random() < 0.2:  # a later profile change: promotions and corrected data
        emit(
            "profile_updated",
            first + timedelta(seconds=rng.random() * span),
            {"company_size": max(1, int(size * rng.uniform(0.8, 1.5)))},
        )
    return events, fit, intent


def iter_accounts(
    leads: int,
    days: float,
    seed: int,
    end: datetime | None = None,
    anonymous_share: float = 0.0,
) -> Iterator[tuple[list[tuple[list[dict[str, Any]], Outcome]], AccountOutcome | None]]:
    """The world company by company: each company's leads (their events and outcomes), and the
    account's own outcome (None when none of its leads is known to belong to it).

    An account converts as a buying group: more often when the company is in market and the
    more of its contacts show real intent, whatever any one of them scores."""
    if leads < 1 or days <= 0:
        raise ValueError("leads must be >= 1 and days > 0")
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = end - timedelta(days=days)
    rng = random.Random(seed)
    index = number = 0
    while index < leads:
        company = new_company(rng, number)
        number += 1
        contacts = min(_weighted(rng, _CONTACTS)[0], leads - index)
        group: list[tuple[list[dict[str, Any]], Outcome]] = []
        members = eager = 0
        last: datetime | None = None
        for _ in range(contacts):
            lead_events, fit, intent = iter_lead(
                rng, index, start, days, company=company, anonymous_share=anonymous_share
            )
            index += 1
            chance = 1 / (1 + math.exp(-(-4.2 + 2.6 * fit + 4.0 * intent)))
            stamp = datetime.fromisoformat(max(e["occurred_at"] for e in lead_events))
            converted = rng.random() < chance
            lead_id = f"lead-{index - 1:06d}"
            if any(e.get("account_id") for e in lead_events):
                members += 1
                eager += intent > 0.45
                last = stamp if last is None or stamp > last else last
            group.append((lead_events, Outcome(lead_id, converted, stamp)))
        account = None
        if members and last is not None:
            odds = -3.2 + 1.6 * company.in_market + 0.9 * eager + 0.3 * (members - 1)
            account = AccountOutcome(
                company.account_id, rng.random() < 1 / (1 + math.exp(-odds)), last
            )
        yield group, account


def iter_world(
    leads: int,
    days: float,
    seed: int,
    end: datetime | None = None,
    anonymous_share: float = 0.0,
) -> Iterator[tuple[list[dict[str, Any]], Outcome]]:
    """The leads of :func:`simulate` one at a time (events in emission order), to stream to disk."""
    for group, _ in iter_accounts(leads, days, seed, end, anonymous_share):
        yield from group


def simulate(
    leads: int,
    days: float,
    seed: int,
    end: datetime | None = None,
    anonymous_share: float = 0.0,
) -> Simulation:
    """A world of ``leads`` leads active over the ``days`` before ``end``."""
    events: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    accounts: list[AccountOutcome] = []
    for group, account in iter_accounts(leads, days, seed, end, anonymous_share):
        for lead_events, outcome in group:
            outcomes.append(outcome)
            events.extend(lead_events)
        if account is not None:
            accounts.append(account)
    events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return Simulation(events, outcomes, accounts)


def live_events(
    seed: int,
    leads: int,
    clock: Iterator[datetime],
    anonymous_share: float = ANONYMOUS_SHARE,
) -> Iterator[dict[str, Any]]:
    """An endless stream of events stamped by ``clock``, for the demo producer: leads of
    companies of several contacts, ``anonymous_share`` of them browsing anonymously before they
    are identified (the benchmark asks for none, to keep measuring what it always did)."""
    rng = random.Random(seed)
    index = 0
    company = new_company(rng, 0)
    while True:
        if index % 3 == 0:  # about three contacts a company
            company = new_company(rng, (index // 3) % max(leads // 3, 1))
        lead_events, _, _ = iter_lead(
            rng,
            index % leads,
            datetime.now(UTC),
            1.0,
            prefix="demo",
            company=company,
            anonymous_share=anonymous_share,
        )
        index += 1
        for event in lead_events:
            event["occurred_at"] = _iso(next(clock))
            event["event_id"] = f"{event['event_id']}-{index}"
            yield event
