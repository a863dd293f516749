"""Account stories and a little Kafka played by a queue, for the account tests of the worker.

The processor runs against real stores (memory or Redis); every batch takes a random handful of
pending records, the internal identity and account topics' messages included, and sometimes
takes one again later (a redelivery).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import strategies as st

from scoring.accounts import AccountScore
from scoring.events import parse_event
from scoring.model import Model
from scoring.offline import Batch
from streams.kafka.messages import Channel
from streams.worker.processor import ConsumedRecord, Processor
from tests.support.events import T0, anonymous, event, identified

IDENTITY = "identity"
ACCOUNTS = "accounts"
AT = T0 + timedelta(days=2)


def engaged_lead(lead: str, account: str, at: datetime = T0) -> list[dict[str, Any]]:
    """A lead of ``account`` with engagement 25 under the default model (a webinar, a pricing
    visit) and a profile that keeps it cold: engaged, far below the lead threshold."""
    return [
        {
            **event("profile_updated", at, lead, job_title="Analyst", company_size=500),
            "account_id": account,
        },
        {**event("webinar_attended", at, lead, webinar_id="w-1"), "account_id": account},
        {**event("page_view", at, lead, path="/pricing"), "account_id": account},
    ]


@dataclass
class Feed:
    """What a run published: alerts by topic, and dead letters."""

    lead_alerts: list[dict[str, Any]] = field(default_factory=list)
    account_alerts: list[dict[str, Any]] = field(default_factory=list)
    dead: list[bytes] = field(default_factory=list)


async def run(
    processor: Processor,
    events: list[dict[str, Any]],
    rnd: random.Random,
    feed: Feed | None = None,
    *,
    extra: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
) -> Feed:
    """Feed the events (and ``extra`` raw records), then route the internal messages back, in
    random batches with redeliveries, until nothing is pending."""
    feed = feed or Feed()
    pending = [("in", orjson.dumps(e)) for e in events] + list(extra)
    offsets = itertools.count()
    while pending:
        rnd.shuffle(pending)
        size = rnd.randint(1, len(pending))
        batch, pending = pending[:size], pending[size:]
        if rnd.random() < 0.2:
            pending.append(rnd.choice(batch))
        records = [ConsumedRecord(t, 0, next(offsets), None, v, 0.0) for t, v in batch]
        outcome = await processor.process(records)
        await processor.confirm(outcome)
        for message in outcome.messages:
            if message.channel is Channel.IDENTITY:
                pending.append((IDENTITY, message.value))
            elif message.channel is Channel.ACCOUNT:
                pending.append((ACCOUNTS, message.value))
            elif message.channel is Channel.HOT:
                feed.lead_alerts.append(orjson.loads(message.value))
            elif message.channel is Channel.ACCOUNTS_HOT:
                feed.account_alerts.append(orjson.loads(message.value))
            elif message.channel is Channel.DLQ:
                feed.dead.append(message.value)
    return feed


def offline_accounts(events: list[dict[str, Any]], models: list[Model], at: datetime) -> dict:
    """``leadscore score --accounts`` of the same events: account id -> its score."""
    batch = Batch(at)
    for raw in events:
        batch.add(parse_event(raw))
    found: dict[str, AccountScore] = {s.account_id: s for s in batch.score_accounts(models)}
    return found


LEADS = ["L1", "L2", "L3", "L4"]
VISITORS = ["V1", "V2"]
ACCOUNT_IDS = ["acme", "globex"]
_kinds = st.sampled_from(["pricing", "careers", "webinar_attended", "email_opened", "profile"])
_PATHS = {"pricing": "/pricing", "careers": "/careers"}  # careers takes points away


@st.composite
def account_stories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Known and anonymous events, some naming an account (leads move between the two), some
    identifications, and repeated copies."""
    events: list[dict[str, Any]] = []
    for n in range(draw(st.integers(1, 14))):
        at = T0 + timedelta(hours=draw(st.integers(-40, 40)))
        kind = draw(_kinds)
        if kind == "profile":
            raw = event("profile_updated", at, draw(st.sampled_from(LEADS)), company_size=500)
            raw["properties"]["industry"] = draw(st.sampled_from(["SaaS", "Retail"]))
        else:
            props = {"path": _PATHS[kind]} if kind in _PATHS else {"webinar_id": "w"}
            name = "page_view" if kind in _PATHS else kind
            if draw(st.integers(0, 4)) == 0:
                raw = anonymous(name, draw(st.sampled_from(VISITORS)), at, **props)
            else:
                raw = event(name, at, draw(st.sampled_from(LEADS)), **props)
        if "lead_id" in raw and draw(st.booleans()):
            raw["account_id"] = draw(st.sampled_from(ACCOUNT_IDS))
        raw["event_id"] = f"e{n}"
        events.append(raw)
    for n in range(draw(st.integers(0, 2))):
        at = T0 + timedelta(hours=draw(st.integers(-40, 40)))
        lead, visitor = draw(st.sampled_from(LEADS)), draw(st.sampled_from(VISITORS))
        events.append(identified(lead, visitor, at, event_id=f"i{n}"))
    events += draw(st.lists(st.sampled_from(events), max_size=4))
    return events


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def buying_groups_and_visitors(
    events: list[dict[str, Any]], seed: int, per_account: int = 4, anonymous_share: float = 0.15
) -> list[dict[str, Any]]:
    """Simulated traffic made to exercise accounts and identity merges too: the simulator's
    leads regrouped into accounts of up to ``per_account`` contacts, and a share of the leads
    browsing anonymously (half their page views under an anonymous id) until an ``identified``
    event, some time in the middle of their history, joins the two. A few visitors are never
    identified."""
    rng = random.Random(seed)
    by_lead: dict[str, list[dict[str, Any]]] = {}
    for raw in events:
        by_lead.setdefault(raw["lead_id"], []).append(dict(raw))
    out: list[dict[str, Any]] = []
    for lead, own in by_lead.items():
        for raw in own:
            account = raw.get("account_id")
            if account is not None:
                raw["account_id"] = f"acct-{int(account.rsplit('-', 1)[1]) // per_account:06d}"
        if rng.random() < anonymous_share:
            visitor = f"anon-{lead}"
            for raw in own:
                if raw["type"] == "page_view" and rng.random() < 0.5:
                    del raw["lead_id"]
                    raw.pop("account_id", None)
                    raw["anonymous_id"] = visitor
            middle = sorted(r["occurred_at"] for r in own)[len(own) // 2]
            link = identified(lead, visitor, datetime.fromisoformat(middle), f"{lead}-identified")
            own.append(link)
        elif rng.random() < 0.02:
            for raw in own:
                if raw["type"] == "page_view":
                    del raw["lead_id"]
                    raw.pop("account_id", None)
                    raw["anonymous_id"] = f"stray-{lead}"
        out += own
    out.sort(key=lambda e: (e["occurred_at"], e["event_id"]))
    return out
