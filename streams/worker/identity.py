"""Identity merge in the worker: visitors' records, and the messages that join them to leads.

Why messages: an ``identified`` event is keyed by its lead and a visitor's events by the anonymous
id, so they are read on different partitions, perhaps by different workers. Each side writes only
its own record and tells the other through the identity topic, from its outbox (so a crash resends
rather than loses):

- the lead's side, on a new ``identified`` event, sends a **link** keyed by the anonymous id;
- the visitor's side folds the visitor's events into a partial state per model and keeps every
  link it heard of; the link in force is the latest (the order of :class:`scoring.identity.Link`).
  When its owner gains something (new events, or the visitor itself) it sends a **touch** keyed
  by the owner; when a later link moves it, the previous owner gets a touch too, and drops it;
- the lead's side, on a touch, records or drops the member, then scores itself with its members'
  partial states combined in (:func:`scoring.identity.combine`).

Each step is idempotent: folding drops repeated event ids, the link in force is a maximum, and a
touch only re-scores. Redelivery and any arrival order reach what offline scoring computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from scoring.engine import apply_event
from scoring.events import Event, EventType, parse_event
from scoring.model import Model
from scoring.state import event_digest
from streams.kafka.messages import Channel
from streams.state.record import StoredLead

LINK = "link"
TOUCH = "touch"


@dataclass(frozen=True, slots=True)
class IdentityMessage:
    """A link (to the visitor's side) or a touch (to a lead's side), as on the identity topic.

    ``owner`` is the lead the visitor belongs to by (``t``, ``digest``); ``moved_from`` the lead
    it belonged to before, when that link moved it; ``event`` the event that caused the message,
    which becomes the tipping event of an alert it causes; ``to`` whom it is for (the Kafka key:
    the anonymous id of a link, the lead of a touch, which may be a previous owner).
    """

    kind: str
    anonymous_id: str
    owner: str
    t: float
    digest: str
    moved_from: str | None = None
    event: Event | None = None
    to: str = ""

    def to_bytes(self) -> bytes:
        doc: dict[str, Any] = {
            "kind": self.kind,
            "anonymous_id": self.anonymous_id,
            "owner": self.owner,
            "t": self.t,
            "digest": self.digest,
            "moved_from": self.moved_from,
            "to": self.to,
            "event": None
            if self.event is None
            else self.event.model_dump(mode="json", exclude_none=True),
        }
        return orjson.dumps(doc)


def decode_message(value: bytes | None) -> IdentityMessage | str:
    """The message, or why it is not one (the worker dead-letters it with that reason)."""
    try:
        doc = orjson.loads(value or b"")
        event = doc.get("event")
        message = IdentityMessage(
            kind=doc["kind"],
            anonymous_id=doc["anonymous_id"],
            owner=doc["owner"],
            t=float(doc["t"]),
            digest=doc["digest"],
            moved_from=doc.get("moved_from"),
            event=None if event is None else parse_event(event),
            to=doc["to"],
        )
    except Exception as exc:  # any shape of garbage: report it, never stop the worker
        return f"not an identity message ({type(exc).__name__}: {exc})"
    if message.kind not in (LINK, TOUCH) or not all(
        isinstance(v, str) and v
        for v in (message.anonymous_id, message.owner, message.digest, message.to)
    ):
        return "not an identity message (kind, anonymous_id, owner, digest or to)"
    return message


def _order(t: float, digest: str) -> tuple[float, bytes]:
    return t, bytes.fromhex(digest)


def link_from(event: Event) -> IdentityMessage:
    """The link an ``identified`` event of a lead announces to the visitor's side."""
    return IdentityMessage(
        LINK,
        str(event.properties["anonymous_id"]),
        event.key,
        event.occurred_at.timestamp(),
        event_digest(event.event_id).hex(),
        event=event,
    )


def entry(message: IdentityMessage, to: str) -> list[Any]:
    """An outbox entry for the identity topic, ``[channel, text, key]``, for ``to``."""
    return [Channel.IDENTITY.value, replace(message, to=to).to_bytes().decode(), to]


def in_force(links: Mapping[str, list[Any]]) -> tuple[str, float, str] | None:
    """A visitor record's link in force, ``(lead, t, digest)``; links are digest -> [t, lead]."""
    if not links:
        return None
    digest = max(links, key=lambda d: _order(float(links[d][0]), d))
    t, lead = links[digest]
    return str(lead), float(t), digest


def plan_visitor(
    stored: StoredLead,
    events: Sequence[Event],
    links: Sequence[IdentityMessage],
    models: Sequence[Model],
) -> list[list[Any]] | None:
    """Fold a visitor's new events and links into its record; the touches to send, or None when
    nothing changed (only repeats)."""
    applied: Event | None = None
    for event in events:
        hit = False
        for model in models:
            hit |= apply_event(stored.state(model.name), event, model)
        if hit and (applied is None or event.occurred_at >= applied.occurred_at):
            applied = event
    before = in_force(stored.links)
    for link in links:
        stored.links.setdefault(link.digest, [link.t, link.owner])
    after = in_force(stored.links)
    if applied is None and after == before:
        return None
    out: list[list[Any]] = []
    if after is None:
        return out
    owner, t, digest = after
    if after != before:
        cause = next((m.event for m in links if m.digest == digest), None)
        moved = before[0] if before is not None and before[0] != owner else None
        touch = IdentityMessage(TOUCH, stored.lead_id, owner, t, digest, moved, cause)
        out.append(entry(touch, owner))
        if moved is not None:  # the previous owner drops the visitor
            out.append(entry(IdentityMessage(TOUCH, stored.lead_id, owner, t, digest), moved))
    else:
        touch = IdentityMessage(TOUCH, stored.lead_id, owner, t, digest, event=applied)
        out.append(entry(touch, owner))
    return out


def apply_touches(stored: StoredLead, touches: Sequence[IdentityMessage]) -> list[Event]:
    """Keep, per visitor a lead heard of, the latest link (links: anonymous id -> [t, digest,
    owner, moved_from]); returns the events the touches carry, candidates for the tipping event.

    A visitor that left stays as a link naming its new owner, so that older news arriving late
    (touches of several visitors share no order) cannot bring it back.
    """
    causes: list[Event] = []
    for touch in touches:
        current = stored.links.get(touch.anonymous_id)
        if current is None or _order(float(current[0]), current[1]) <= _order(
            touch.t, touch.digest
        ):
            moved = touch.moved_from if current is None else current[3] or touch.moved_from
            stored.links[touch.anonymous_id] = [touch.t, touch.digest, touch.owner, moved]
        if touch.event is not None:
            causes.append(touch.event)
    return causes


def members(stored: StoredLead) -> list[str]:
    """The visitors counted toward a lead: those whose latest link it heard of names it."""
    return sorted(a for a, link in stored.links.items() if link[2] == stored.lead_id)


def is_identified(event: Event) -> bool:
    return event.type is EventType.IDENTIFIED
