"""Identity merge: which lead an anonymous visitor's events count toward, as pure functions.

An ``identified`` event says "anonymous id A is lead L". It arrives keyed by the lead while A's
events arrive keyed by A, so on other partitions and in any order. Everything here is therefore a
function of the *set* of links and events, never of their order:

- the link in force for A is the latest one (by ``occurred_at``, then event-id digest), so a later
  ``identified`` naming another lead moves A there, and redelivering a link changes nothing;
- a lead's records are its own plus those of every anonymous id whose link in force names it.
  Each keeps its own time, so decay applies as usual; they become visible to the lead's
  hysteresis at the moment of the identification (or their own time, if later), which is when a
  live worker learns of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from scoring import decay
from scoring.compiled import CompiledModel
from scoring.explain import Contribution
from scoring.state import LeadState

IDENTIFIED = "identified"

# (occurred_at epoch seconds, event id digest, type, properties): scoring.offline.ReplayEntry
Record = tuple[float, bytes, str, dict[str, Any]]


@dataclass(frozen=True, slots=True, order=True)
class Link:
    """One ``identified`` event: from ``t`` on, ``anonymous_id`` is ``lead_id``.

    Ordered by (t, digest) first, so ``max`` over an anonymous id's links is the one in force,
    whatever order they were seen in.
    """

    t: float
    digest: bytes
    anonymous_id: str
    lead_id: str


def link_of(lead_id: str, t: float, digest: bytes, props: Mapping[str, Any]) -> Link:
    """The link an ``identified`` event's fields describe (the contract checked the fields)."""
    return Link(t, digest, str(props["anonymous_id"]), lead_id)


def in_force(links: Iterable[Link], at: float | None = None) -> dict[str, Link]:
    """Anonymous id -> the link in force at ``at`` (all links when None): the latest one."""
    found: dict[str, Link] = {}
    for link in links:
        if at is not None and link.t > at:
            continue
        current = found.get(link.anonymous_id)
        if current is None or link > current:
            found[link.anonymous_id] = link
    return found


def merged_records(
    own: Sequence[Record],
    joined: Iterable[tuple[Link, Sequence[Record]]],
) -> tuple[list[Record], list[float]]:
    """A lead's records with those of its anonymous ids, in the order a replay steps through them.

    Returns the records and, beside each, when it becomes visible to the lead: its own time for
    the lead's own records, ``max(own time, identification time)`` for an anonymous id's. Sorted
    by (visible, time, digest), so the same set of inputs always gives the same lists.
    """
    rows: list[tuple[float, Record]] = [(r[0], r) for r in own]
    for link, records in joined:
        rows.extend((max(r[0], link.t), r) for r in records)
    rows.sort(key=lambda row: (row[0], row[1][0], row[1][1]))
    return [r for _, r in rows], [v for v, _ in rows]


def previous_owner(history: Iterable[Link], link: Link) -> str | None:
    """The lead ``link.anonymous_id`` belonged to just before ``link`` moved it, if another."""
    earlier = [x for x in history if x.anonymous_id == link.anonymous_id and x < link]
    if not earlier:
        return None
    before = max(earlier).lead_id
    return before if before != link.lead_id else None


def combine(own: LeadState, parts: Iterable[LeadState], cm: CompiledModel) -> LeadState:
    """The lead's state with its anonymous visitors' states folded in, for evaluation.

    A live worker keeps each anonymous id's state apart (so that a later ``identified`` can move
    it to another lead) and combines them when it scores. Combining is what folding every
    record into one state would give: counts add, decayed counts add at the later reference
    time, recent times merge (the newest ``cm.recent_depth``), each profile attribute keeps its
    latest value, seen digests unite. The hysteresis memory is the lead's own.
    """
    out = LeadState(
        own.lead_id,
        set(own.seen),
        {key: list(entry) for key, entry in own.signals.items()},
        {key: list(times) for key, times in own.recent.items()},
        dict(own.profile),
        own.hot,
        own.crossings,
    )
    k, depth = cm.decay_k, cm.recent_depth
    for part in parts:
        out.seen |= part.seen
        for key, (n, value, ref) in part.signals.items():
            entry = out.signals.get(key)
            if entry is None:
                out.signals[key] = [n, value, ref]
            elif ref <= entry[2]:
                entry[0] += n
                entry[1] += value * decay.factor(k, entry[2] - ref)
            else:
                entry[0] += n
                entry[1], entry[2] = entry[1] * decay.factor(k, ref - entry[2]) + value, ref
        for key, times in part.recent.items():
            merged = sorted([*out.recent.get(key, []), *times])
            out.recent[key] = merged[-depth:] if depth else merged
        for name, (value, t, tie) in part.profile.items():
            current = out.profile.get(name)
            if current is None or (t, tie) > (current[1], current[2]):
                out.profile[name] = (value, t, tie)
    return out


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


@dataclass(slots=True)
class Identities:
    """Every link and anonymous record of a batch of events, for offline scoring."""

    links: dict[str, set[Link]] = field(default_factory=dict)  # by anonymous id
    by_anonymous: dict[str, list[Record]] = field(default_factory=dict)
    named: dict[str, set[str]] = field(default_factory=dict)  # lead -> anonymous ids ever linked

    def add_link(self, link: Link) -> None:
        """Remember one ``identified`` event (repeats are harmless)."""
        self.links.setdefault(link.anonymous_id, set()).add(link)
        self.named.setdefault(link.lead_id, set()).add(link.anonymous_id)

    def add_record(self, anonymous_id: str, record: Record) -> None:
        """Remember one event of an anonymous visitor."""
        self.by_anonymous.setdefault(anonymous_id, []).append(record)

    def joined(self, lead_id: str, at: float | None = None) -> list[tuple[Link, list[Record]]]:
        """(link, that anonymous id's records up to ``at``) for each link in force at ``at``
        that names ``lead_id``, by anonymous id."""
        out: list[tuple[Link, list[Record]]] = []
        for anonymous_id in sorted(self.named.get(lead_id, ())):
            link = in_force(self.links[anonymous_id], at).get(anonymous_id)
            if link is None or link.lead_id != lead_id:
                continue
            records = self.by_anonymous.get(anonymous_id, [])
            out.append((link, [r for r in records if at is None or r[0] <= at]))
        return out

    def notes(self, lead_id: str, at: float | None = None) -> tuple[Contribution, ...]:
        """Zero-point explanation lines: which anonymous ids count toward the lead, and which
        came from another lead (a later ``identified`` moved them)."""
        parts: list[Contribution] = []
        for link, _ in self.joined(lead_id, at):
            history = [x for x in self.links[link.anonymous_id] if at is None or x.t <= at]
            moved_from = previous_owner(history, link)
            detail = f"anonymous visitor {link.anonymous_id} identified on {_day(link.t)}"
            if moved_from is not None:
                detail += f", moved from lead {moved_from}"
            parts.append(Contribution("identity", "identity", 0, detail))
        return tuple(parts)
