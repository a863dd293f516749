"""A leadforge world as leadscore events and outcomes.

leadforge (a B2B SaaS CRM simulator on PyPI, by other authors) draws accounts, contacts and leads
with hidden traits, walks every lead through a sales funnel day by day for 90 days, and records
what a CRM would see: marketing and sales touches, web sessions, sales activities, opportunities,
and whether the lead was won within 90 days of its creation. None of it was written with leadscore
in mind, which is the point: a score that only predicts leadscore's own simulator proves little.

What is emitted, per lead
-------------------------
* one ``profile_updated`` at the lead's creation (midnight UTC of ``lead_created_at``), from its
  contact and account: ``job_title``, ``seniority`` (leadforge's levels are a subset of
  leadscore's), ``industry``, ``country`` (the account's region, ``UK`` written ``GB``),
  ``company_size`` (the middle of the account's employee band: leadscore wants a number, leadforge
  only has bands), ``email`` (made up from the ids: a corporate domain, ``gmail.com`` for
  leadforge's "personal" domains, none for "unknown", so the default model's personal-mail rule
  has something to read), and as custom CRM fields the raw bands and labels: ``employee_band``,
  ``revenue_band``, ``process_maturity``, ``role_function``, ``buyer_role``,
  ``email_domain_type``, ``region``, ``lead_source``, ``owner_rep``;
* one event per touch, at noon UTC of its day (leadforge stamps days, not times):

  ================== =====================  ======================================================
  leadforge touch    leadscore type         why
  ================== =====================  ======================================================
  email              ``email_opened``       the lead received and saw a marketing or sales email
  linkedin_message   ``email_clicked``      a one-to-one message the lead interacted with
  content_download   ``content_downloaded`` the same thing
  webinar            ``webinar_attended``   the same thing
  call               ``meeting_booked``     leadscore has no call type; a live conversation with
                                            sales is what ``meeting_booked`` stands for. This
                                            overstates outbound dials, which the rules cannot tell
                                            apart (``direction`` is kept as a property)
  ================== =====================  ======================================================

* per web session, ``page_view`` events at noon of its day: ``pricing_page_views`` views of
  ``/pricing``, ``demo_page_views`` views of ``/demo``, and the rest of ``page_views`` on
  ``/product``. The session's ``session_type`` (website, pricing_page, demo_page) rides along as a
  property rather than deciding a path: leadforge 1.0 draws it uniformly for every session whoever
  the lead is, while the two counts move with the lead's funnel stage, so paths follow the counts.
  The first view of a session carries ``duration_seconds``.

Sales activities and opportunities are left out: they are the sales team's own records of where a
deal stands, not the lead's behaviour, and leadscore's job is to decide who sales should work next.

Outcomes and time
-----------------
Each lead is scored ``score_after_days`` (30) days after its creation, at midnight UTC; its outcome
is leadforge's ``converted_within_90_days`` (won within 90 days of creation, some of them before
the scoring moment). ``leadscore calibrate`` counts events at or before ``scored_at``, and
``leadscore score --at`` those at or before ``--at``, so neither would refuse a later event by
itself: this adapter therefore emits only events strictly before each lead's ``scored_at`` — days
0 to 29 — and the files hold nothing a model could learn the future from.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson

from scoring.events import Seniority
from scoring.simulate import Outcome, Simulation

RECIPE = "b2b_saas_procurement_v1"
SCORE_AFTER_DAYS = 30
DIFFICULTIES = ("intro", "intermediate", "advanced")

# leadforge's employee bands, as the headcount leadscore's range rules can read
BAND_SIZE = {"200-499": 350, "500-999": 750, "1000-1999": 1500, "2000+": 3000}
COUNTRY = {"UK": "GB"}
PERSONAL_DOMAIN = "gmail.com"
TOUCH_TYPE = {
    "email": "email_opened",
    "linkedin_message": "email_clicked",
    "content_download": "content_downloaded",
    "webinar": "webinar_attended",
    "call": "meeting_booked",
}
PRICING_PATH, DEMO_PATH, OTHER_PATH = "/pricing", "/demo", "/product"
_NOON = time(12, tzinfo=UTC)
_MIDNIGHT = time(0, tzinfo=UTC)
_SENIORITIES = frozenset(s.value for s in Seniority)


# A world in leadscore's terms, the same shape as the project's own simulator gives: events (per
# lead, in time order) and one outcome per lead.
World = Simulation


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _day(value: str, at: time) -> datetime:
    return datetime.combine(date.fromisoformat(value[:10]), at)


def _profile(lead: Any, contact: Any, account: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "job_title": contact.job_title,
        "industry": account.industry,
        "country": COUNTRY.get(account.region, account.region),
        "employee_band": account.employee_band,
        "revenue_band": account.estimated_revenue_band,
        "process_maturity": account.process_maturity_band,
        "role_function": contact.role_function,
        "buyer_role": contact.buyer_role,
        "email_domain_type": contact.email_domain_type,
        "region": account.region,
        "lead_source": lead.lead_source,
        "owner_rep": lead.owner_rep_id,
    }
    if contact.seniority in _SENIORITIES:
        props["seniority"] = contact.seniority
    size = BAND_SIZE.get(account.employee_band)
    if size is not None:
        props["company_size"] = size
    local = contact.contact_id.replace("_", "-")
    if contact.email_domain_type == "corporate":
        props["email"] = f"{local}@{account.account_id.replace('_', '-')}.example"
    elif contact.email_domain_type == "personal":
        props["email"] = f"{local}@{PERSONAL_DOMAIN}"
    return props


def _event(
    event_id: str, lead_id: str, account_id: str, kind: str, at: datetime, props: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "lead_id": lead_id,
        "type": kind,
        "occurred_at": rfc3339(at),
        "account_id": account_id,
        "properties": props,
    }


def _session_views(session: Any) -> list[dict[str, Any]]:
    pricing = max(0, int(session.pricing_page_views or 0))
    demo = max(0, int(session.demo_page_views or 0))
    rest = max(0, int(session.page_views or 0) - pricing - demo)
    paths = [PRICING_PATH] * pricing + [DEMO_PATH] * demo + [OTHER_PATH] * rest
    views = [{"path": p, "session_type": session.session_type} for p in paths]
    if views and session.session_duration_seconds is not None:
        views[0]["duration_seconds"] = int(session.session_duration_seconds)
    return views


def convert_tables(
    accounts: Iterable[Any],
    contacts: Iterable[Any],
    leads: Sequence[Any],
    touches: Iterable[Any],
    sessions: Iterable[Any],
    score_after_days: int = SCORE_AFTER_DAYS,
) -> World:
    """leadforge's rows (its accounts, contacts, leads, touches and sessions) as a :class:`World`.

    Rows are read by attribute, as leadforge's row dataclasses have them, so the tables of a
    generated world and rows rebuilt from its parquet files convert alike.
    """
    account_by_id = {a.account_id: a for a in accounts}
    contact_by_id = {c.contact_id: c for c in contacts}
    by_lead: dict[str, list[tuple[datetime, str, str, dict[str, Any]]]] = {
        lead.lead_id: [] for lead in leads
    }
    for touch in touches:
        kind = TOUCH_TYPE.get(touch.touch_type)
        if kind is None or touch.lead_id not in by_lead:
            continue
        props: dict[str, Any] = {
            "touch_type": touch.touch_type,
            "channel": touch.touch_channel,
            "direction": touch.touch_direction,
        }
        if touch.campaign_id is not None:
            props["campaign"] = touch.campaign_id
        by_lead[touch.lead_id].append(
            (_day(touch.touch_timestamp, _NOON), touch.touch_id, kind, props)
        )
    for session in sessions:
        if session.lead_id not in by_lead:
            continue
        at = _day(session.session_timestamp, _NOON)
        for n, view in enumerate(_session_views(session), start=1):
            by_lead[session.lead_id].append((at, f"{session.session_id}-{n}", "page_view", view))

    events: list[dict[str, Any]] = []
    outcomes: list[Outcome] = []
    for lead in leads:
        created = _day(lead.lead_created_at, _MIDNIGHT)
        scored_at = created + timedelta(days=score_after_days)
        contact = contact_by_id[lead.contact_id]
        account = account_by_id[lead.account_id]
        account_id = str(lead.account_id)
        profile = _profile(lead, contact, account)
        events.append(
            _event(
                f"{lead.lead_id}-profile",
                lead.lead_id,
                account_id,
                "profile_updated",
                created,
                profile,
            )
        )
        for at, event_id, kind, props in sorted(by_lead[lead.lead_id], key=lambda r: (r[0], r[1])):
            if at < scored_at:
                events.append(_event(event_id, lead.lead_id, account_id, kind, at, props))
        outcomes.append(Outcome(lead.lead_id, bool(lead.converted_within_90_days), scored_at))
    return World(events, outcomes)


def convert(bundle: Any, score_after_days: int = SCORE_AFTER_DAYS) -> World:
    """A generated leadforge ``WorldBundle`` as a :class:`World`."""
    population, result = bundle.population, bundle.simulation_result
    if population is None or result is None:
        raise ValueError("the leadforge bundle has not been generated")
    return convert_tables(
        population.accounts,
        population.contacts,
        result.leads,
        result.touches,
        result.sessions,
        score_after_days,
    )


def generate(seed: int, difficulty: str, leads: int) -> Any:
    """A leadforge world of ``leads`` leads (accounts and contacts at the recipe's defaults)."""
    from leadforge.api.generator import Generator

    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {', '.join(DIFFICULTIES)}")
    generator = Generator.from_recipe(RECIPE, seed=seed, difficulty=difficulty, n_leads=leads)
    return generator.generate()


def write(world: World, out: Path) -> tuple[Path, Path]:
    """``events.jsonl``, and ``outcomes.csv`` in the columns ``leadscore calibrate`` reads."""
    out.mkdir(parents=True, exist_ok=True)
    events_path, outcomes_path = out / "events.jsonl", out / "outcomes.csv"
    with events_path.open("wb") as handle:
        handle.write(b"".join(orjson.dumps(e) + b"\n" for e in world.events))
    with outcomes_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["lead_id", "converted", "scored_at"])
        for o in world.outcomes:
            writer.writerow([o.lead_id, "true" if o.converted else "false", rfc3339(o.scored_at)])
    return events_path, outcomes_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m streams.worlds.leadforge",
        description="Generate a leadforge world and write it as leadscore events and outcomes.",
    )
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--difficulty", choices=DIFFICULTIES, default="intermediate")
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--score-after-days", type=int, default=SCORE_AFTER_DAYS)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.leads < 1 or not 1 <= args.score_after_days <= 90:
        parser.error("--leads must be positive and --score-after-days within 1..90")
    world = convert(generate(args.seed, args.difficulty, args.leads), args.score_after_days)
    events_path, outcomes_path = write(world, args.out)
    from leadforge import __version__

    meta = {
        "generator": "leadforge",
        "leadforge_version": __version__,
        "recipe": RECIPE,
        "seed": args.seed,
        "difficulty": args.difficulty,
        "leads": args.leads,
        "score_after_days": args.score_after_days,
        "events": len(world.events),
        "conversions": sum(o.converted for o in world.outcomes),
    }
    (args.out / "world.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2) + b"\n")
    print(
        f"wrote {meta['events']} events for {args.leads} leads ({meta['conversions']} converted) "
        f"to {events_path} and {outcomes_path}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
