"""The worker's hot path, free of Faust: a batch of Kafka records in, messages to publish out.

For each batch: validate every record once (bad ones become dead letters), group the events by lead,
read those leads from Redis in one round trip, fold the events in with the scoring engine, evaluate
each changed lead once, and write every lead back with compare-and-set in one more round trip. The
messages a lead's change produces (score change, hot alert, cooling) are written into that lead's
outbox in the same atomic step, published, and only then cleared; a crash anywhere in between
leaves them in the outbox, and the redelivered batch sends them again with the same ids.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from scoring.analytics import track_table
from scoring.compiled import compiled
from scoring.engine import Score, apply_event, cools_at, evaluate, quick_score, update_hot
from scoring.events import Event, EventType
from scoring.explain import Contribution
from scoring.fit import email_domain
from scoring.identity import combine
from scoring.model import Model, profile_attributes
from scoring.state import LeadState
from streams.errors import StateConflict
from streams.kafka import messages
from streams.kafka.codec import Rejection, RejectReason, decode, decode_call
from streams.kafka.messages import Channel, OutMessage
from streams.observability.metrics import Metrics
from streams.state import record as lead_record
from streams.state.record import StoredLead
from streams.state.store import LeadStore, LeadWrite
from streams.worker import accounts as account_side
from streams.worker import identity
from streams.worker.cache import LeadCache
from streams.worker.shadow import as_shadow

MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """One consumed Kafka message; ``timestamp`` is the message's time in epoch seconds."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float

    @classmethod
    def from_kafka(cls, message: Any) -> ConsumedRecord:
        """From an aiokafka ``ConsumerRecord``, whose timestamp is in milliseconds."""
        return cls(
            message.topic,
            message.partition,
            message.offset,
            message.key,
            message.value,
            message.timestamp / 1000,
        )


@dataclass(slots=True)
class BatchOutcome:
    """What a batch produced: messages to publish, then outboxes to clear once they are acked."""

    messages: list[OutMessage] = field(default_factory=list)
    outboxes: dict[str, bytes] = field(default_factory=dict)
    alert_origins: list[float] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)
    events: int = 0
    rejected: int = 0
    # Counted into the metrics on confirm, not when decoded: a batch retried after an outage is
    # decoded again, and each message must count once.
    consumed_types: dict[EventType, int] = field(default_factory=dict)
    # Visitors' outboxes, cleared in the visitor store once their touches are acknowledged.
    visitor_outboxes: dict[str, bytes] = field(default_factory=dict)
    # Accounts' outboxes (their alerts), cleared in the account store the same way.
    account_outboxes: dict[str, bytes] = field(default_factory=dict)
    account_transitions: list[str] = field(default_factory=list)
    rejected_reasons: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Plan:
    """The result of folding a batch's events into one lead."""

    write: LeadWrite | None
    outbox: list[list[Any]]
    outbox_bytes: bytes  # as written to Redis; clearing it after the send compares these bytes
    cooling_at: float | None
    origins: list[float]
    reschedule: bool = False


class Processor:
    """Applies batches of records to lead state; knows nothing of Faust, so it is easy to test."""

    def __init__(
        self,
        store: LeadStore,
        models: Sequence[Model],
        metrics: Metrics,
        max_event_bytes: int,
        clock: Callable[[], float] = time.time,
        emit: bool = True,
        cache: LeadCache | None = None,
        dead_letter_limit: int = 1_000_000,
        visitors: LeadStore | None = None,
        identity_topic: str | None = None,
        expire_visitors: Callable[[Mapping[str, float | None]], Awaitable[None]] | None = None,
        anonymous_ttl: float = 90 * 86400.0,
        accounts: LeadStore | None = None,
        accounts_topic: str | None = None,
        analytics_topic: str | None = None,
        track_overrides: Mapping[str, EventType] | None = None,
        shadow: Model | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.max_event_bytes = max_event_bytes
        self.clock = clock
        # False when rebuilding state from retained topics: everything it would send was sent
        # when the events first arrived.
        self.emit = emit
        self.cache = cache if cache is not None else LeadCache(0)
        # The largest record the dead-letter topic and the producer take; the worker lowers it to
        # the topic's own limit once it has asked Kafka.
        self.dead_letter_limit = dead_letter_limit
        # Anonymous visitors' records (another key prefix) and the topic of identity messages;
        # without them anonymous events are counted but not merged (streams.worker.identity).
        self.visitors = visitors
        self.identity_topic = identity_topic
        # Unidentified visitors expire ``anonymous_ttl`` seconds after their last write.
        self.expire_visitors = expire_visitors
        self.anonymous_ttl = anonymous_ttl
        # Accounts' records (another key prefix) and the topic of leads' summaries for them;
        # without them, or without a model with an accounts section, leads tell no account
        # (streams.worker.accounts).
        self.accounts = accounts
        self.accounts_topic = accounts_topic
        # Analytics-spec calls (scoring.analytics): each message stands for zero or more events,
        # mapped with the models' track-name table and these overrides on top.
        self.analytics_topic = analytics_topic
        self.track_overrides = dict(track_overrides or {})
        self.use_models(models, shadow)
        # label lookups cost a microsecond each; an event type's counter is looked up once
        self._consumed = functools.cache(self.metrics.events_consumed.labels)
        self._read_cache = self.metrics.lead_reads.labels("cache")
        self._read_redis = self.metrics.lead_reads.labels("redis")

    def use_models(self, models: Sequence[Model], shadow: Model | None = None) -> None:
        """Score with ``models`` (and ``shadow``, see :mod:`streams.worker.shadow`) from now on.

        Only between batches: a batch is scored by one set of models. The lead cache is dropped,
        since its leads were shaped by the models before (which profile attributes they keep).
        """
        if not models:
            raise ValueError("at least one model is needed")
        self.models = tuple(models)
        self.shadow = as_shadow(shadow, self.models) if shadow is not None else None
        # The active models, then the shadow: every model whose state a lead keeps.
        self.scoring = (*self.models, self.shadow) if self.shadow else self.models
        # Each model's state keeps only the profile attributes that model reads: less memory, and
        # no e-mail address in Redis when rules read only its domain (docs/architecture.md,
        # "Memory").
        self._profile_keep = {m.name: profile_attributes(m) for m in self.scoring}
        self._profile_keep_all = frozenset().union(*self._profile_keep.values())
        self.track_table = track_table(self.models, self.track_overrides)
        self._with_accounts = self.accounts is not None and any(
            m.accounts is not None for m in self.models
        )
        self.cache.clear()

    async def process(self, records: Iterable[ConsumedRecord]) -> BatchOutcome:
        now = self.clock()
        now_dt = datetime.fromtimestamp(now, UTC)
        outcome = BatchOutcome()
        by_lead: dict[str, list[tuple[Event, ConsumedRecord]]] = {}
        visits = _Visits()
        news: dict[str, list[account_side.AccountMessage]] = {}
        offsets = outcome.offsets
        consumed = outcome.consumed_types
        for record in records:
            key = f"{record.topic}:{record.partition}"
            if record.offset >= offsets.get(key, -1):
                offsets[key] = record.offset + 1
            if record.topic == self.identity_topic:
                found = identity.decode_message(record.value)
                if isinstance(found, str):
                    self._reject(outcome, record, RejectReason.INVALID, found)
                elif found.kind == identity.LINK:
                    visits.links.setdefault(found.anonymous_id, []).append(found)
                else:
                    visits.touches.setdefault(found.to, []).append(found)
                continue
            if record.topic == self.accounts_topic:
                message = account_side.decode_message(record.value)
                if isinstance(message, str):
                    self._reject(outcome, record, RejectReason.INVALID, message)
                else:
                    news.setdefault(message.account_id, []).append(message)
                continue
            events: list[Event | Rejection]
            if record.topic == self.analytics_topic:
                mapped = decode_call(
                    record.value, self.max_event_bytes, self.track_table, record.timestamp, now_dt
                )
                events = [mapped] if isinstance(mapped, Rejection) else list(mapped)
            else:
                events = [decode(record.value, self.max_event_bytes, now_dt)]
            for decoded in events:
                if isinstance(decoded, Rejection):
                    self._reject(outcome, record, decoded.reason, decoded.detail)
                    continue
                outcome.events += 1
                consumed[decoded.type] = consumed.get(decoded.type, 0) + 1
                if decoded.lead_id is None:
                    if self.visitors is not None:
                        visits.events.setdefault(decoded.key, []).append(decoded)
                    continue  # without a visitor store: kept in the retained topic, not merged
                by_lead.setdefault(decoded.lead_id, []).append((decoded, record))
        if visits.events or visits.links:
            await self._update_visitors(visits, outcome)
        for lead_id in visits.touches:
            by_lead.setdefault(lead_id, [])
        await self._update(by_lead, now, outcome, force=False, touches=visits.touches)
        if news and self.accounts is not None:
            await self._update_accounts(news, now, outcome, force=False)
        return outcome

    def _reject(
        self, outcome: BatchOutcome, record: ConsumedRecord, reason: RejectReason, detail: str
    ) -> None:
        outcome.rejected += 1
        if not self.emit:
            return
        reasons = outcome.rejected_reasons
        reasons[reason.value] = reasons.get(reason.value, 0) + 1
        outcome.messages.append(
            messages.dead_letter(
                record.value,
                record.key,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                reason=reason.value,
                detail=detail,
                limit=self.dead_letter_limit,
            )
        )

    async def _update_visitors(self, visits: _Visits, outcome: BatchOutcome) -> None:
        """Fold anonymous events and links into visitors' records; their touches go out."""
        store = self.visitors
        if store is None:
            return
        pending = set(visits.events) | set(visits.links)
        for _ in range(MAX_ATTEMPTS):
            loaded = await store.load(pending)
            writes: list[LeadWrite] = []
            sends: dict[str, tuple[list[list[Any]], bytes]] = {}
            for visitor in pending:
                stored = loaded[visitor]
                keep = self._profile_keep_all
                kept = [_minimal_profile(e, keep) for e in visits.events.get(visitor, [])]
                for event in kept:
                    account_side.note_event(stored, event)
                touches = identity.plan_visitor(
                    stored, kept, visits.links.get(visitor, []), self.scoring
                )
                new = touches if touches is not None and self.emit else []
                outbox = stored.outbox + new
                outbox_bytes = orjson.dumps(outbox) if outbox else b""
                if touches is not None:
                    encoded = lead_record.encode(stored, stored.version + 1)
                    writes.append(LeadWrite(visitor, stored.version, encoded, outbox_bytes))
                if outbox:
                    sends[visitor] = (outbox, outbox_bytes)
            conflicts = set(await store.commit(writes))
            if self.expire_visitors is not None:
                await self.expire_visitors(
                    {
                        w.lead_id: None if loaded[w.lead_id].links else self.anonymous_ttl
                        for w in writes
                        if w.lead_id not in conflicts
                    }
                )
            for visitor, (outbox, outbox_bytes) in sends.items():
                if visitor not in conflicts:
                    outcome.visitor_outboxes[visitor] = outbox_bytes
                    outcome.messages.extend(_out_message(visitor, e) for e in outbox)
            if not conflicts:
                return
            self.metrics.state_conflicts.inc(len(conflicts))
            pending = conflicts
        raise StateConflict(f"{len(pending)} visitors kept changing under us; retry the batch")

    async def tick(self, lead_ids: Iterable[str]) -> BatchOutcome:
        """Re-evaluate leads with no new events: how hot leads cool by decay alone."""
        outcome = BatchOutcome()
        await self._update({lead: [] for lead in lead_ids}, self.clock(), outcome, force=True)
        return outcome

    async def tick_accounts(self, account_ids: Iterable[str]) -> BatchOutcome:
        """Re-evaluate accounts with no news: how hot accounts cool as their leads go quiet."""
        outcome = BatchOutcome()
        if self.accounts is not None:
            news: dict[str, list[account_side.AccountMessage]] = {a: [] for a in account_ids}
            await self._update_accounts(news, self.clock(), outcome, force=True)
        return outcome

    async def _update_accounts(
        self,
        news: Mapping[str, list[account_side.AccountMessage]],
        now: float,
        outcome: BatchOutcome,
        *,
        force: bool,
    ) -> None:
        """Fold leads' summaries and departures into their accounts; account alerts go out."""
        store = self.accounts
        if store is None:
            return
        pending = set(news)
        cooling: dict[str, float | None] = {}
        for _ in range(MAX_ATTEMPTS):
            loaded = await store.load(pending)
            writes: list[LeadWrite] = []
            plans: dict[str, tuple[account_side.AccountPlan, list[list[Any]], bytes]] = {}
            for account_id in pending:
                stored = loaded[account_id]
                plan = account_side.plan_account(
                    stored, news[account_id], self.models, now, force, store.history_length
                )
                if not plan.changed:  # only repeats; an outbox left by a crash goes again
                    pending_bytes = orjson.dumps(stored.outbox) if stored.outbox else b""
                    plans[account_id] = (plan, stored.outbox, pending_bytes)
                    continue
                outbox = stored.outbox + plan.produced if self.emit else list(stored.outbox)
                outbox_bytes = orjson.dumps(outbox) if outbox else b""
                encoded = lead_record.encode(stored, stored.version + 1)
                writes.append(LeadWrite(account_id, stored.version, encoded, outbox_bytes))
                plans[account_id] = (plan, outbox, outbox_bytes)
            conflicts = set(await store.commit(writes))
            for account_id, (plan, outbox, outbox_bytes) in plans.items():
                if account_id in conflicts:
                    continue
                if outbox:
                    outcome.account_outboxes[account_id] = outbox_bytes
                    outcome.messages.extend(_out_message(account_id, e) for e in outbox)
                if plan.changed and self.emit:
                    outcome.account_transitions.extend(plan.transitions)
                if plan.reschedule:
                    cooling[account_id] = plan.cooling_at
            if not conflicts:
                break
            self.metrics.state_conflicts.inc(len(conflicts))
            pending = conflicts
        else:
            raise StateConflict(f"{len(pending)} accounts kept changing under us; retry the batch")
        await store.schedule_cooling(cooling)

    async def rescore(self, lead_ids: Iterable[str]) -> BatchOutcome:
        """Re-evaluate leads under the current models, writing only those whose outcome moved.

        Like :meth:`tick`, but a lead whose score, grade and hot state are what its record says
        (no crossing, no cooling, nothing left in its outbox) is neither written nor announced:
        after a model change most leads are untouched by it, and skipping them is what makes a
        rescore of every lead cheap. Hot leads still get their cooling time refreshed (a new
        re-arm level moves it), which needs no write of the record.
        """
        outcome = BatchOutcome()
        leads: dict[str, list[tuple[Event, ConsumedRecord]]] = {lead: [] for lead in lead_ids}
        await self._update(leads, self.clock(), outcome, force=True, settle=True)
        return outcome

    async def confirm(self, outcome: BatchOutcome) -> bool:
        """Call after every message of ``outcome`` was acknowledged by Kafka.

        False: Redis restarted since the batch's leads were read, so it may have lost writes;
        the checkpoints did not move, and the caller must rewind to them.
        """
        if self.visitors is not None and outcome.visitor_outboxes:
            await self.visitors.finish(outcome.visitor_outboxes, {})
        if self.accounts is not None and outcome.account_outboxes:
            await self.accounts.finish(outcome.account_outboxes, {})
        sure = await self.store.finish(outcome.outboxes, outcome.offsets)
        for lead_id in outcome.outboxes:  # as the finish script just did in Redis
            cached = self.cache.get(lead_id)
            if cached is not None:
                cached.outbox = []
        for event_type, count in outcome.consumed_types.items():  # a lock per type, not event
            self._consumed(event_type.value).inc(count)
        for reason, count in outcome.rejected_reasons.items():
            self.metrics.events_rejected.labels(reason).inc(count)
        for kind in outcome.account_transitions:
            self.metrics.account_transitions.labels(kind).inc()
        now = self.clock()
        for origin in outcome.alert_origins:
            self.metrics.event_to_alert_seconds.observe(max(now - origin, 0.0))
        return sure

    async def _update(
        self,
        by_lead: Mapping[str, list[tuple[Event, ConsumedRecord]]],
        now: float,
        outcome: BatchOutcome,
        *,
        force: bool,
        touches: Mapping[str, list[identity.IdentityMessage]] | None = None,
        settle: bool = False,
    ) -> None:
        pending = dict(by_lead)
        touches = touches or {}
        cooling: dict[str, float | None] = {}
        # A rescore reads when each lead is due to cool: most hot leads keep that time, and
        # checking it costs one evaluation where finding it anew costs thirty.
        scheduled = await self.store.cooling_times(list(pending)) if settle else {}
        for _ in range(MAX_ATTEMPTS):
            loaded = self.cache.take(pending)
            self._read_cache.inc(len(loaded))
            if len(loaded) < len(pending):
                missing = [i for i in pending if i not in loaded]
                self._read_redis.inc(len(missing))
                loaded.update(await self.store.load(missing))
            members = await self._members(loaded, pending, touches)
            plans = {
                lead: self.plan(
                    loaded[lead],
                    pending[lead],
                    now,
                    force,
                    touches.get(lead, []),
                    members,
                    settle=settle,
                    scheduled=scheduled.get(lead),
                )
                for lead in pending
            }
            writes = [p.write for p in plans.values() if p.write is not None]
            conflicts = set(await self.store.commit(writes))
            for lead_id, plan in plans.items():
                if lead_id in conflicts:
                    continue
                if plan.write is not None:
                    stored = loaded[lead_id]
                    stored.version, stored.outbox = plan.write.version + 1, plan.outbox
                if plan.outbox:
                    outcome.outboxes[lead_id] = plan.outbox_bytes
                    outcome.messages.extend(_out_message(lead_id, entry) for entry in plan.outbox)
                    outcome.alert_origins.extend(plan.origins)
                if plan.reschedule:
                    cooling[lead_id] = plan.cooling_at
            self.cache.keep(loaded[lead] for lead in plans if lead not in conflicts)
            if not conflicts:
                break
            self.metrics.state_conflicts.inc(len(conflicts))
            pending = {lead: pending[lead] for lead in conflicts}
        else:
            raise StateConflict(f"{len(pending)} leads kept changing under us; retry the batch")
        await self.store.schedule_cooling(cooling)

    async def _members(
        self,
        loaded: Mapping[str, StoredLead],
        pending: Mapping[str, object],
        touches: Mapping[str, list[identity.IdentityMessage]],
    ) -> dict[str, StoredLead]:
        """The records of every visitor that counts, or may now count, toward a pending lead."""
        if self.visitors is None:
            return {}
        wanted: set[str] = set()
        for lead in pending:
            wanted.update(identity.members(loaded[lead]))
            wanted.update(t.anonymous_id for t in touches.get(lead, ()))
        return await self.visitors.load(wanted) if wanted else {}

    def plan(
        self,
        stored: StoredLead,
        events: list[tuple[Event, ConsumedRecord]],
        now: float,
        force: bool,
        touches: Sequence[identity.IdentityMessage] = (),
        visitors: Mapping[str, StoredLead] | None = None,
        settle: bool = False,
        scheduled: float | None = None,
    ) -> _Plan:
        """Apply ``events`` to ``stored`` in place and say what to write and send; no I/O.

        ``touches`` update which visitors count toward the lead, and ``visitors`` holds their
        records (see :mod:`streams.worker.identity`). With ``settle`` (a rescore), a lead whose
        outcome did not move is not written, and ``scheduled``, when the lead is due to cool, is
        kept if it is still no later than the models say. Public for tools that build lead
        records without a worker (``ops/train-dictionary``).
        """
        latest: tuple[Event, ConsumedRecord | None] | None = None
        links: list[list[Any]] = []
        for event, record in events:
            applied = False
            for model in self.scoring:
                kept = _minimal_profile(event, self._profile_keep[model.name])
                applied |= apply_event(stored.state(model.name), kept, model)
            if applied:
                if self._with_accounts:
                    account_side.note_event(stored, event)
                if latest is None or event.occurred_at >= latest[0].occurred_at:
                    latest = (event, record)
                if identity.is_identified(event):
                    link = identity.link_from(event)
                    links.append(identity.entry(link, link.anonymous_id))
            else:
                self.metrics.dedupe_hits.inc()
        for cause in identity.apply_touches(stored, touches):
            if latest is None or cause.occurred_at >= latest[0].occurred_at:
                latest = (cause, None)
        force = force or bool(touches)
        if latest is None and not force:
            # Only repeats: nothing to write, but an outbox left by a crash is sent again.
            pending = orjson.dumps(stored.outbox) if stored.outbox else b""
            return _Plan(None, stored.outbox, pending, None, [])

        at_s = now if latest is None else max(now, latest[0].occurred_at.timestamp())
        at = datetime.fromtimestamp(at_s, UTC)
        emitted = datetime.fromtimestamp(now, UTC)
        produced: list[list[Any]] = []
        origins: list[float] = []
        changed = moved = False
        cooling_at: float | None = None
        reschedule = force  # whether the cooling schedule of this lead needs writing
        tipping = latest[0] if latest else None
        visiting = identity.members(stored) if visitors else []
        members = [visitors[a] for a in visiting if visitors and a in visitors]
        combined: dict[str, Any] = {}
        for model in self.scoring:
            shadow = model is self.shadow
            own = stored.state(model.name)
            state = (
                combine(own, [m.state(model.name) for m in members], compiled(model))
                if members
                else own
            )
            combined[model.name] = state
            score = evaluate(state, model, at, explained=False)
            transition = update_hot(state, score, model)
            own.hot, own.crossings = state.hot, state.crossings
            summary = f"{score.score}|{score.grade}|{int(score.hot)}"
            previous = stored.summaries.get(model.name)
            if summary != previous:
                stored.summaries[model.name] = summary
            if summary != previous and not shadow:  # a shadow sends only its would-be alerts
                changed = True
                payload = messages.score_change(score, tipping.event_id if tipping else None)
                produced.append([Channel.SCORES.value, _text(payload)])
            if transition is not None:
                reschedule = moved = True
                role = "shadow" if shadow else "active"
                self.metrics.transitions.labels(transition.kind, model.name, role).inc()
                score = evaluate(state, model, at)  # with the reasons, for the people it alerts
                score = _with_notes(score, stored)
                if transition.kind == "hot":
                    payload = messages.alert(score, transition.crossing, tipping, emitted)
                    if latest is not None and latest[1] is not None and not shadow:
                        origins.append(latest[1].timestamp)
                else:
                    payload = messages.cooling(score, transition.crossing, emitted)
                channel = Channel.SHADOW if shadow else Channel.HOT
                produced.append([channel.value, _text(payload)])
            # A hot lead's cooling time moves earlier only when its score drops (more engagement
            # never lowers the decayed curve), so the search runs on crossings, drops and ticks;
            # otherwise the time already scheduled stands and the tick re-checks when it comes.
            if state.hot and (transition or force or _dropped(score.score, previous)):
                if transition is None and _still_hot_before(state, model, scheduled):
                    # Not too late for this model; if too early, the tick then finds it hot
                    # and schedules it again.
                    due_at = scheduled
                else:
                    due = cools_at(state, model, at)
                    due_at = None if due is None else due.timestamp()
                if due_at is not None:
                    cooling_at = min(cooling_at or due_at, due_at)
                reschedule = True
        if settle and not (changed or moved or links or stored.outbox):
            # Nothing to announce and nothing new to keep: no write, no compare-and-set to lose.
            return _Plan(None, [], b"", cooling_at, [], cooling_at not in (None, scheduled))
        if changed and self.store.history_length:
            # compact: [time, cause, then score, grade, hot of each model in model order]. The
            # time is the event's that made the change (to the millisecond), not the batch's: a
            # batch holds many changes, and a chart of them must not stack them on one instant.
            changed_at = now if tipping is None else tipping.occurred_at.timestamp()
            entry: list[Any] = [round(changed_at, 3), _kind(tipping)]
            for model in self.models:
                score_, grade_, hot_ = stored.summaries[model.name].split("|")
                entry += [int(score_), grade_, int(hot_)]
            stored.history = [entry, *stored.history][: self.store.history_length]
        produced += links
        if self._with_accounts and stored.membership:
            last = account_side.last_event(stored, members)
            produced += account_side.member_entries(stored, combined, self.models, last, now)
        outbox = stored.outbox + produced if self.emit else list(stored.outbox)
        if not self.emit:
            origins = []
        outbox_bytes = orjson.dumps(outbox) if outbox else b""
        encoded = lead_record.encode(stored, stored.version + 1)
        write = LeadWrite(stored.lead_id, stored.version, encoded, outbox_bytes)
        return _Plan(write, outbox, outbox_bytes, cooling_at, origins, reschedule)


@dataclass(slots=True)
class _Visits:
    """A batch's anonymous events and links by anonymous id, and touches by lead."""

    events: dict[str, list[Event]] = field(default_factory=dict)
    links: dict[str, list[identity.IdentityMessage]] = field(default_factory=dict)
    touches: dict[str, list[identity.IdentityMessage]] = field(default_factory=dict)


def _with_notes(score: Score, stored: StoredLead) -> Score:
    """The score's explanation with a zero-point line per visitor counted toward the lead."""
    notes = []
    for anonymous_id in identity.members(stored):
        t, _, _, moved_from = stored.links[anonymous_id]
        day = datetime.fromtimestamp(float(t), UTC).strftime("%Y-%m-%d")
        detail = f"anonymous visitor {anonymous_id} identified on {day}"
        if moved_from:
            detail += f", moved from lead {moved_from}"
        notes.append(Contribution("identity", "identity", 0, detail))
    return replace(score, explanation=score.explanation + tuple(notes)) if notes else score


def _minimal_profile(event: Event, keep: frozenset[str]) -> Event:
    """A profile update cut down to the attributes in ``keep``; other events pass unchanged."""
    if event.type is not EventType.PROFILE_UPDATED:
        return event
    props = event.properties
    kept = {name: value for name, value in props.items() if name in keep}
    if "email_domain" in keep and "email_domain" not in props:
        domain = email_domain(props.get("email"))
        if domain is not None:
            kept["email_domain"] = domain
    if kept.keys() == props.keys():
        return event
    return event.model_copy(update={"properties": kept})


def _still_hot_before(state: LeadState, model: Model, scheduled: float | None) -> bool:
    """Whether a lead scheduled to cool at ``scheduled`` is still hot under ``model`` a second
    before: then its cooling time under ``model`` is no earlier than the one scheduled."""
    if scheduled is None:
        return False
    return quick_score(state, compiled(model), scheduled - 1.0) >= model.thresholds.rearm


def _dropped(score: int, previous: str | None) -> bool:
    return previous is None or score < int(previous.split("|", 1)[0])


def _text(payload: dict[str, Any]) -> str:
    return messages.encode(payload).decode()


def _kind(event: Event | None) -> str:
    return "decay" if event is None else event.type.value


def _out_message(lead_id: str, entry: list[Any]) -> OutMessage:
    """An outbox entry as a message: ``[channel, text]`` keyed by the lead (or account), or
    ``[channel, text, key]`` for identity and account messages, keyed by whom they are for."""
    channel, text = entry[0], entry[1]
    key = str(entry[2]) if len(entry) > 2 else lead_id
    return OutMessage(Channel(channel), key.encode(), str(text).encode())


def score_now(
    stored: StoredLead,
    models: Sequence[Model],
    at: datetime,
    visitors: Mapping[str, StoredLead] | None = None,
) -> list[Score]:
    """Scores of a stored lead as of ``at``, for the HTTP API and ``leadscore lead``; with the
    records of its ``visitors`` (those in ``stored.links``), they count toward it."""
    members = [visitors[a] for a in identity.members(stored) if a in visitors] if visitors else []
    scores = []
    for model in models:
        state = stored.state(model.name)
        if members:
            state = combine(state, [m.state(model.name) for m in members], compiled(model))
        scores.append(_with_notes(evaluate(state, model, at), stored))
    return scores
