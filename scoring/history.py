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

from scoring.compiled import compiled
from scoring.engine import Score, apply_record, evaluate
from scoring.model import Model
from scoring.offline import ReplayEntry
from scoring.state import LeadState, event_digest


class History:
    """Every lead's events as compact records, sorted once and cut at any time afterwards."""

    def __init__(self) -> None:
        self.by_lead: dict[str, list[ReplayEntry]] = {}
        self._sorted = True

    def add(
        self, event_id: str, lead_id: str, event_type: str, t: float, props: dict[str, Any]
    ) -> None:
        """Add the fields of one validated event (see ``scoring.events.quick_fields``)."""
        records = self.by_lead.get(lead_id)
        if records is None:
            records = self.by_lead[lead_id] = []
        records.append((t, event_digest(event_id), event_type, props))
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

    def state(self, lead_id: str, model: Model, at: datetime) -> LeadState:
        """The lead's state built from its events up to and including ``at``."""
        self._sort()
        records = self.by_lead.get(lead_id, [])
        cut = bisect_right(records, at.timestamp(), key=lambda r: r[0])
        return fold(lead_id, records[:cut], model)

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
