"""A synthetic world of leads, for calibration, demos, tests and benchmarks.

Each lead has two hidden traits: *fit* (drawn from its company size, industry, seniority and mail
domain) and *intent* (how close it is to buying). Intent drives what the lead does: buyers read the
pricing and comparison pages, watch demos and book meetings; browsers read the blog and open emails.
Whether a lead converts depends on the hidden traits only, never on the model's points, so a scoring
model can be judged against it honestly. The same seed always produces the same world.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
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
class Simulation:
    events: list[dict[str, Any]]
    outcomes: list[Outcome]


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


def iter_lead(
    rng: random.Random, index: int, start: datetime, days: float, prefix: str = "lead"
) -> tuple[list[dict[str, Any]], float, float]:
    """One lead's events, with its hidden fit and intent (both in 0..1)."""
    lead_id = f"{prefix}-{index:06d}"
    industry = _weighted(rng, _INDUSTRIES)[0]
    title, seniority, _ = _weighted(rng, _TITLES)
    size = max(1, int(math.exp(rng.gauss(5.0, 1.6))))
    personal = rng.random() < 0.15
    domain = rng.choice(_PERSONAL) if personal else f"company{index}.example"
    crm = _weighted(rng, _CRMS)[0]
    fit = (
        _CRM_FIT[crm]
        + 0.35 * _SENIORITY_FIT[seniority]
        + 0.25 * (industry in _GOOD_INDUSTRIES)
        + 0.25 * min(math.log10(size) / 3.5, 1.0)
        - 0.3 * personal
    )
    fit = min(max(fit + rng.gauss(0, 0.1), 0.0), 1.0)
    intent = min(max(rng.betavariate(1.2, 3.0) + 0.25 * (fit - 0.4), 0.0), 1.0)

    events: list[dict[str, Any]] = []
    first = start + timedelta(seconds=rng.random() * days * 86400 * 0.5)
    span = (start + timedelta(days=days) - first).total_seconds()
    seq = 0

    def emit(kind: str, at: datetime, props: dict[str, Any]) -> None:
        nonlocal seq
        seq += 1
        events.append(
            {
                "event_id": f"{lead_id}-{seq:04d}",
                "lead_id": lead_id,
                "type": kind,
                "occurred_at": _iso(at),
                "account_id": None if personal else f"acct-{index:06d}",
                "properties": props,
            }
        )

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
    behaviour = _behaviour(intent)
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


def iter_world(
    leads: int, days: float, seed: int, end: datetime | None = None
) -> Iterator[tuple[list[dict[str, Any]], Outcome]]:
    """The leads of :func:`simulate` one at a time (events in emission order), to stream to disk."""
    if leads < 1 or days <= 0:
        raise ValueError("leads must be >= 1 and days > 0")
    end = (end or datetime.now(UTC)).astimezone(UTC)
    start = end - timedelta(days=days)
    rng = random.Random(seed)
    for index in range(leads):
        lead_events, fit, intent = iter_lead(rng, index, start, days)
        chance = 1 / (1 + math.exp(-(-4.2 + 2.6 * fit + 4.0 * intent)))
        last = max(e["occurred_at"] for e in lead_events)
        converted = rng.random() < chance
        lead_id = lead_events[0]["lead_id"]
        yield lead_events, Outcome(lead_id, converted, datetime.fromisoformat(last))


def simulate(leads: int, days: float, seed: int, end: datetime | None = None) -> Simulation:
    """A world of ``leads`` leads active over the ``days`` before ``end``."""
    events: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    for lead_events, outcome in iter_world(leads, days, seed, end):
        outcomes.append(outcome)
        events.extend(lead_events)
    events.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return Simulation(events, outcomes)


def live_events(seed: int, leads: int, clock: Iterator[datetime]) -> Iterator[dict[str, Any]]:
    """An endless stream of events stamped by ``clock``, for the demo producer."""
    rng = random.Random(seed)
    index = 0
    while True:
        lead_events, _, _ = iter_lead(rng, index % leads, datetime.now(UTC), 1.0, prefix="demo")
        index += 1
        for event in lead_events:
            event["occurred_at"] = _iso(next(clock))
            event["event_id"] = f"{event['event_id']}-{index}"
            yield event
