"""A lead's score as of a past moment, from its full event history.

Calibration asks "what did the model say when this lead entered the pipeline?", so each lead is
scored at its own time, ignoring anything that happened later. Events are folded in time order
without the hysteresis steps of :func:`scoring.offline.replay`: calibration needs the score, not
the alert history, and skipping the steps keeps a hundred thousand leads fast.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from scoring.accounts import AccountScore, AccountState, evaluate_account, latest_account
from scoring.compiled import compiled
from scoring.engine import Score, apply_record, evaluate
from scoring.identity import IDENTIFIED, Identities, link_of, merged_records
from scoring.model import Model
from scoring.offline import ReplayEntry, lead_member
from scoring.state import LeadState, event_digest


class History:
    """Every lead's events as compact records, sorted once and cut at any time afterwards."""

    def __init__(self) -> None:
        self.by_lead: dict[str, list[ReplayEntry]] = {}
        self.identities = Identities()
        # each lead's events that carry an account, as (t, tie, account); and each account's
        # leads, for scoring accounts as of a past moment (``account_score``)
        self.accounts_of: dict[str, list[tuple[float, int, str]]] = {}
        self.by_account: dict[str, set[str]] = {}
        self._sorted = True

    def add(
        self,
        event_id: str,
        lead_id: str,
        event_type: str,
        t: float,
        props: dict[str, Any],
        anonymous: bool = False,
        account_id: str | None = None,
    ) -> None:
        """Add the fields of one validated event (see ``scoring.events.line_fields``); with
        ``anonymous`` the second field is an anonymous id, whose events count toward the lead it
        is identified as."""
        digest = event_digest(event_id)
        if anonymous:
            self.identities.add_record(lead_id, (t, digest, event_type, props))
            return
        if event_type == IDENTIFIED:
            self.identities.add_link(link_of(lead_id, t, digest, props))
        if account_id is not None:
            tie = int.from_bytes(digest[:4], "big")
            self.accounts_of.setdefault(lead_id, []).append((t, tie, account_id))
            self.by_account.setdefault(account_id, set()).add(lead_id)
        records = self.by_lead.get(lead_id)
        if records is None:
            records = self.by_lead[lead_id] = []
        records.append((t, digest, event_type, props))
        self._sorted = False

    def _sort(self) -> None:
        if not self._sorted:
            for records in self.by_lead.values():
                records.sort(key=lambda r: (r[0], r[1]))
            self._sorted = True

    def last_event(self, lead_id: str) -> datetime:
        """When the lead's latest event happened (the default moment to score it)."""
        self._sort()
        return datetime.fromtimestamp(self.by_lead[lead_id][-1][0], tz=UTC)

    def _records(self, lead_id: str, at_s: float) -> list[ReplayEntry]:
        self._sort()
        records = self.by_lead.get(lead_id, [])
        cut = records[: bisect_right(records, at_s, key=lambda r: r[0])]
        if lead_id in self.identities.named:  # its anonymous visits up to then count as well
            cut, _ = merged_records(cut, self.identities.joined(lead_id, at_s))
        return cut

    def state(self, lead_id: str, model: Model, at: datetime) -> LeadState:
        """The lead's state built from its events up to and including ``at``."""
        return fold(lead_id, self._records(lead_id, at.timestamp()), model)

    def account_last_event(self, account_id: str) -> datetime:
        """When the latest event of a lead that ever carried the account happened."""
        return max(self.last_event(lead) for lead in self.by_account[account_id])

    def account_at(self, lead_id: str, at_s: float) -> str | None:
        """The lead's account as of ``at_s``: that of its latest event carrying one by then."""
        found: tuple[str, float, int] | None = None
        for t, tie, account in self.accounts_of.get(lead_id, ()):
            if t <= at_s:
                found = latest_account(found, account, t, tie)
        return None if found is None else found[0]

    def account_state(self, account_id: str, model: Model, at: datetime) -> AccountState:
        """The account as of ``at``: each lead whose account it was then, as that lead stood
        at its latest event up to ``at`` (what ``leadscore score --accounts`` does at the end)."""
        at_s = at.timestamp()
        state = AccountState(account_id)
        for lead in sorted(self.by_account.get(account_id, ())):
            if self.account_at(lead, at_s) != account_id:
                continue
            records = self._records(lead, at_s)
            last = max((r[0] for r in records), default=None)
            member = lead_member(lead, fold(lead, records, model), model, last)
            if member is not None:
                state.update(member)
        return state

    def account_score(self, account_id: str, model: Model, at: datetime) -> AccountScore:
        """The account's explained score under ``model`` (which needs an accounts section) as
        of ``at``."""
        return evaluate_account(self.account_state(account_id, model, at), model, at)

    def score(self, lead_id: str, model: Model, at: datetime) -> Score:
        """The lead's explained score under ``model`` as of ``at``."""
        return evaluate(self.state(lead_id, model, at), model, at)


def fold(lead_id: str, records: Iterable[ReplayEntry], model: Model) -> LeadState:
    """Apply records (already in time order) to a fresh state."""
    cm = compiled(model)
    state = LeadState.new(lead_id)
    for t, digest, event_type, props in records:
        apply_record(state, cm, t, digest, event_type, props)
    return state
