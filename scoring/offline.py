"""Offline scoring: the same engine over a batch of events, as of one point in time.

Events are grouped per lead and replayed in ``occurred_at`` order so that the hysteresis memory
(``hot``, number of crossings) is what a live stream would have built: the score is checked just
before and just after each moment something happened, which is where it reaches its extremes when
nothing else happens in between. Events after ``at`` are ignored.
"""

from __future__ import annotations

import gc
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from scoring.accounts import AccountScore, AccountState, Member, evaluate_account, latest_account
from scoring.compiled import compiled
from scoring.engine import Score, apply_record, evaluate, quick_score, update_hot
from scoring.errors import EventValidationError
from scoring.events import Event, line_fields
from scoring.explain import Contribution
from scoring.fit import fit_points, profile_view
from scoring.identity import IDENTIFIED, Identities, link_of, merged_records
from scoring.model import Model
from scoring.state import LeadState, event_digest
from scoring.thresholds import step

# (occurred_at epoch seconds, event id digest, type, properties)
ReplayEntry = tuple[float, bytes, str, dict[str, Any]]

PROFILE_UPDATED = "profile_updated"


def replay(
    lead_id: str,
    records: list[ReplayEntry],
    model: Model,
    visible: Sequence[float] | None = None,
) -> LeadState:
    """Build a lead's state from its records (sorted by time), stepping the hysteresis memory.

    ``visible``, beside each record, is when the lead learns of it when that is later than the
    record's own time (an anonymous visitor's events, at identification; see
    :func:`scoring.identity.merged_records`); the records are then sorted by it.
    """
    shown = visible if visible is not None else [r[0] for r in records]
    cm = compiled(model)
    thresholds = model.thresholds
    fit_min, fit_max = model.fit.min, model.fit.max
    state = LeadState.new(lead_id)
    fit: float | None = None
    # a lead whose fit plus the most engagement can reach stays below the threshold can never
    # turn hot, so the per-event checks are skipped for it
    reachable = model.engagement.max
    hot_at = thresholds.hot
    i, n = 0, len(records)
    while i < n:
        t = shown[i]
        if state.hot:  # lowest point since the previous event: may have cooled meanwhile
            step(state, quick_score(state, cm, t, fit), thresholds)
        while i < n and shown[i] == t:
            own_t, digest, event_type, props = records[i]
            if apply_record(state, cm, own_t, digest, event_type, props) and (
                event_type == PROFILE_UPDATED
            ):
                fit = None
            i += 1
        if fit is None:
            fit = min(max(fit_points(profile_view(state.profile), cm), fit_min), fit_max)
        if state.hot or fit + reachable >= hot_at:
            step(state, quick_score(state, cm, t, fit), thresholds)
    return state


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: a batch allocates millions of acyclic objects, and
    repeated full collections over them would cost more than the scoring itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Batch:
    """Events collected per lead, ready to be scored under one or more models."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        self.at = at
        self._at_s = at.timestamp()
        self.by_lead: dict[str, list[ReplayEntry]] = {}
        self.identities = Identities()
        self.accounts: dict[str, tuple[str, float, int]] = {}  # lead -> (account, t, tie)

    def add(self, event: Event) -> None:
        """Add a validated event; events after ``at`` are dropped."""
        self.add_fields(
            event.event_id,
            event.key,
            event.type.value,
            event.occurred_at.timestamp(),
            event.properties,
            event.anonymous,
            event.account_id,
        )

    def add_fields(
        self,
        event_id: str,
        lead_id: str,
        event_type: str,
        t: float,
        props: dict[str, Any],
        anonymous: bool = False,
        account_id: str | None = None,
    ) -> None:
        """Add the fields of a validated event (see ``events.line_fields``); with ``anonymous``
        the second field is an anonymous id. A lead's account is that of its latest event
        carrying one."""
        if t > self._at_s:
            return
        digest = event_digest(event_id)
        if anonymous:
            self.identities.add_record(lead_id, (t, digest, event_type, props))
            return
        if event_type == IDENTIFIED:
            self.identities.add_link(link_of(lead_id, t, digest, props))
        if account_id is not None:
            tie = int.from_bytes(digest[:4], "big")
            found = latest_account(self.accounts.get(lead_id), account_id, t, tie)
            if found is not None:
                self.accounts[lead_id] = found
        records = self.by_lead.get(lead_id)
        if records is None:
            records = self.by_lead[lead_id] = []
        records.append((t, digest, event_type, props))

    def score(self, models: Sequence[Model]) -> list[Score]:
        """One score per lead and model, sorted by lead id, then model name."""
        with _no_gc():
            return self._score(models)

    def score_accounts(self, models: Sequence[Model]) -> list[AccountScore]:
        """One score per account and model with an ``accounts`` section, sorted by account id,
        then model name. Each lead joins as it stands at its latest event (score, engagement,
        firmographics); the account evaluates as of ``at`` (hot by threshold, without replaying
        earlier crossings)."""
        groups: dict[tuple[str, str], AccountState] = {}
        with _no_gc():
            self._score(models, groups)
        out: list[AccountScore] = []
        by_name = {m.name: m for m in models}
        for key in sorted(groups):
            out.append(evaluate_account(groups[key], by_name[key[1]], self.at))
        return out

    def _score(
        self, models: Sequence[Model], accounts: dict[tuple[str, str], AccountState] | None = None
    ) -> list[Score]:
        ordered = sorted(models, key=lambda m: m.name)
        out: list[Score] = []
        identities = self.identities
        for lead_id in sorted(self.by_lead):
            records = self.by_lead[lead_id]
            visible: list[float] | None = None
            notes: tuple[Contribution, ...] = ()
            joined = identities.joined(lead_id) if lead_id in identities.named else None
            if joined:
                records, visible = merged_records(records, joined)
                notes = identities.notes(lead_id)
            else:
                records.sort(key=lambda r: (r[0], r[1]))
            for model in ordered:
                state = replay(lead_id, records, model, visible)
                result = evaluate(state, model, self.at)
                update_hot(state, result, model)
                if notes:
                    result = replace(result, explanation=result.explanation + notes)
                out.append(result)
                account = self.accounts.get(lead_id)
                if accounts is not None and account is not None and model.accounts is not None:
                    last = max((r[0] for r in records), default=None)
                    member = lead_member(lead_id, state, model, last)
                    if member is not None:
                        key = (account[0], model.name)
                        accounts.setdefault(key, AccountState(account[0])).update(member)
        return out


def lead_member(lead_id: str, state: LeadState, model: Model, last: float | None) -> Member | None:
    """The lead as its account sees it: as it stood at its latest event."""
    if last is None:
        return None
    at_last = evaluate(state, model, datetime.fromtimestamp(last, UTC), explained=False)
    profile = {name: (value, t) for name, (value, t, _) in state.profile.items()}
    return Member(lead_id, at_last.score, at_last.engagement, last, profile)


def score_events(events: Iterable[Event], models: Sequence[Model], at: datetime) -> list[Score]:
    """Score validated events (any order, repeats allowed) under each model, as of ``at``."""
    batch = Batch(at)
    for event in events:
        batch.add(event)
    return batch.score(models)


def owner(lead_id: str, parts: int) -> int:
    """Which of ``parts`` workers scores a lead: a stable hash, the same in every process."""
    return zlib.crc32(lead_id.encode()) % parts if parts > 1 else 0


def score_lines(
    lines: Iterable[bytes | str],
    models: Sequence[Model],
    at: datetime,
    now: datetime | None = None,
    part: int = 0,
    parts: int = 1,
) -> tuple[list[Score], list[tuple[int, str]]]:
    """Score JSON lines; returns the scores and ``(line number, reason)`` for rejected lines.

    Blank lines are skipped. Each line is decoded and validated once, then reduced to a small
    record. ``now`` (the wall clock, not ``at``) rejects events stamped more than a day in the
    future. With ``parts > 1`` only the leads owned by ``part`` (see :func:`owner`) are scored,
    and lines without a usable lead id are reported by part 0 only, so that several workers can
    share one file and together report every line exactly once. An anonymous visitor's events
    may count toward a lead of any part, so every part reads them (and part 0 reports them).
    """
    batch, rejected = read_lines(lines, at, now, part, parts)
    return batch.score(models), rejected


def score_account_lines(
    lines: Iterable[bytes | str], models: Sequence[Model], at: datetime, now: datetime | None
) -> tuple[list[AccountScore], list[tuple[int, str]]]:
    """Like :func:`score_lines`, one score per account instead (``leadscore score --accounts``);
    in one process, since an account's leads may be anywhere in the file."""
    batch, rejected = read_lines(lines, at, now)
    return batch.score_accounts(models), rejected


def read_lines(
    lines: Iterable[bytes | str],
    at: datetime,
    now: datetime | None = None,
    part: int = 0,
    parts: int = 1,
) -> tuple[Batch, list[tuple[int, str]]]:
    """The batch of valid lines (of ``part``, see :func:`score_lines`) and the rejected ones."""
    batch = Batch(at)
    rejected: list[tuple[int, str]] = []
    now_s = None if now is None else now.timestamp()
    add_fields = batch.add_fields
    with _no_gc():
        for number, line in enumerate(lines, start=1):
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                data = None
            report = True
            if parts > 1:
                lead = data.get("lead_id") if type(data) is dict else None
                shared = lead is None and type(data) is dict and "anonymous_id" in data
                mine = owner(lead, parts) == part if type(lead) is str else part == 0
                if not mine and not shared:
                    continue
                report = mine
            try:
                fields = line_fields(line, data, now, now_s)
            except EventValidationError as err:
                if report:
                    rejected.append((number, str(err)))
                continue
            if fields is not None:
                add_fields(*fields)
    return batch, rejected
