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
from datetime import datetime
from typing import Any

import orjson

from scoring.compiled import compiled
from scoring.engine import Score, apply_record, evaluate, quick_score, update_hot
from scoring.errors import EventValidationError
from scoring.events import Event, line_fields
from scoring.fit import fit_points, profile_view
from scoring.model import Model
from scoring.state import LeadState, event_digest
from scoring.thresholds import step

# (occurred_at epoch seconds, event id digest, type, properties)
ReplayEntry = tuple[float, bytes, str, dict[str, Any]]

PROFILE_UPDATED = "profile_updated"


def replay(lead_id: str, records: list[ReplayEntry], model: Model) -> LeadState:
    """Build a lead's state from its records (sorted by time), stepping the hysteresis memory."""
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
        t = records[i][0]
        if state.hot:  # lowest point since the previous event: may have cooled meanwhile
            step(state, quick_score(state, cm, t, fit), thresholds)
        while i < n and records[i][0] == t:
            _, digest, event_type, props = records[i]
            if apply_record(state, cm, t, digest, event_type, props) and (
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

    def add(self, event: Event) -> None:
        """Add a validated event; events after ``at`` are dropped."""
        self.add_fields(
            event.event_id,
            event.lead_id,
            event.type.value,
            event.occurred_at.timestamp(),
            event.properties,
        )

    def add_fields(
        self, event_id: str, lead_id: str, event_type: str, t: float, props: dict[str, Any]
    ) -> None:
        """Add the fields of a validated event (see ``events.quick_parse``)."""
        if t <= self._at_s:
            records = self.by_lead.get(lead_id)
            if records is None:
                records = self.by_lead[lead_id] = []
            records.append((t, event_digest(event_id), event_type, props))

    def score(self, models: Sequence[Model]) -> list[Score]:
        """One score per lead and model, sorted by lead id, then model name."""
        with _no_gc():
            return self._score(models)

    def _score(self, models: Sequence[Model]) -> list[Score]:
        ordered = sorted(models, key=lambda m: m.name)
        out: list[Score] = []
        for lead_id in sorted(self.by_lead):
            records = self.by_lead[lead_id]
            records.sort(key=lambda r: (r[0], r[1]))
            for model in ordered:
                state = replay(lead_id, records, model)
                result = evaluate(state, model, self.at)
                update_hot(state, result, model)
                out.append(result)
        return out


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
    share one file and together report every line exactly once.
    """
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
            if parts > 1:
                lead = data.get("lead_id") if type(data) is dict else None
                mine = owner(lead, parts) == part if type(lead) is str else part == 0
                if not mine:
                    continue
            try:
                fields = line_fields(line, data, now, now_s)
            except EventValidationError as err:
                rejected.append((number, str(err)))
                continue
            if fields is not None:
                add_fields(*fields)
    return batch.score(models), rejected
