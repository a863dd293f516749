"""What the worker publishes: hot-lead alerts, cooling events, score changes, dead letters.

Alert and cooling ids are derived from (lead, model, crossing number), never drawn at random, so a
message sent again after a crash or a redelivery carries the id it had the first time and consumers
can drop the repeat.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from scoring.accounts import AccountScore
from scoring.engine import Score
from scoring.events import Event

_ID_NAMESPACE = uuid.UUID("5b0c1e6a-3f7d-4d2b-9a51-1ead5c0e0001")


class Channel(StrEnum):
    """Logical output topics; the worker maps them to the configured names."""

    HOT = "hot"
    SCORES = "scores"
    DLQ = "dlq"
    # Internal: links and touches between visitors and leads (streams.worker.identity).
    IDENTITY = "identity"
    # Internal: leads' summaries and departures for their accounts (streams.worker.accounts).
    ACCOUNT = "account"
    ACCOUNTS_HOT = "accounts_hot"
    # A shadow model's would-be alerts: compared by an operator, never routed to sales.
    SHADOW = "shadow"


@dataclass(frozen=True, slots=True)
class OutMessage:
    channel: Channel
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def transition_id(lead_id: str, model: str, kind: str, crossing: int) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"{lead_id}\x1f{model}\x1f{kind}\x1f{crossing}"))


def _score_fields(score: Score) -> dict[str, Any]:
    return {
        "lead_id": score.lead_id,
        "model": score.model,
        "model_version": score.model_version,
        "score": score.score,
        "fit": round(score.fit, 2),
        "engagement": round(score.engagement, 2),
        "grade": score.grade,
        "route": score.route,
        "hot": score.hot,
        **score.calibrated(),
    }


def alert(
    score: Score, crossing: int, tipping: Event | None, emitted_at: datetime
) -> dict[str, Any]:
    """The routing event for a lead that just became hot: who should call, and why."""
    return {
        "alert_id": transition_id(score.lead_id, score.model, "hot", crossing),
        "kind": "hot",
        "crossing": crossing,
        **_score_fields(score),
        "explanation": [c.to_dict() for c in score.explanation],
        "tipping_event": None
        if tipping is None
        else {
            "event_id": tipping.event_id,
            "type": tipping.type.value,
            "occurred_at": iso(tipping.occurred_at),
        },
        "event_time": iso(tipping.occurred_at) if tipping else None,
        "scored_at": iso(score.at),
        "emitted_at": iso(emitted_at),
    }


def cooling(score: Score, crossing: int, emitted_at: datetime) -> dict[str, Any]:
    """The lead fell below the re-arm level, by new events or by decay alone."""
    return {
        "alert_id": transition_id(score.lead_id, score.model, "cooled", crossing),
        "kind": "cooled",
        "crossing": crossing,
        **_score_fields(score),
        "explanation": [c.to_dict() for c in score.explanation],
        "scored_at": iso(score.at),
        "emitted_at": iso(emitted_at),
    }


def account_transition_id(account_id: str, model: str, kind: str, crossing: int) -> str:
    """An account alert's id, from (account, model, kind, crossing) as for leads; the leading
    field keeps it apart from any lead's id."""
    key = f"account\x1f{account_id}\x1f{model}\x1f{kind}\x1f{crossing}"
    return str(uuid.uuid5(_ID_NAMESPACE, key))


def account_alert(
    score: AccountScore,
    kind: str,
    crossing: int,
    event_time: datetime | None,
    emitted_at: datetime,
) -> dict[str, Any]:
    """An account turned hot or cooled: for the ``accounts.hot`` topic, keyed by account id."""
    return {
        "alert_id": account_transition_id(score.account_id, score.model, kind, crossing),
        "kind": kind,
        "crossing": crossing,
        "account_id": score.account_id,
        "model": score.model,
        "score": score.score,
        "engaged_contacts": score.engaged_contacts,
        "members": [{"lead_id": lead, "score": points} for lead, points in score.members],
        "explanation": [c.to_dict() for c in score.explanation],
        "route": score.route,
        "event_time": iso(event_time) if event_time else None,
        "scored_at": iso(score.at),
        "emitted_at": iso(emitted_at),
    }


def score_change(score: Score, event_id: str | None) -> dict[str, Any]:
    """One line of the ``leads.scores`` feed, for CRM and warehouse sinks."""
    return {**_score_fields(score), "event_id": event_id, "scored_at": iso(score.at)}


def encode(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


# What a record costs Kafka beyond its key, value and header bytes (lengths, attributes, the
# batch header a lone large record gets), rounded up generously.
RECORD_OVERHEAD = 512
MAX_DEAD_KEY = 1024  # a larger key is cut too: keys only place the letter on a partition


def dead_letter(
    value: bytes | None,
    key: bytes | None,
    *,
    topic: str,
    partition: int,
    offset: int,
    reason: str,
    detail: str,
    limit: int,
) -> OutMessage:
    """The original bytes with where they came from and why they were refused.

    The whole record stays within ``limit`` bytes, whatever arrived: a dead letter Kafka refuses
    would be retried for ever and stall every partition. An original too large to fit is cut,
    and headers give its length and SHA-256, so it can still be found at ``topic``/``offset``
    and recognised.
    """
    original = value or b""
    headers = [
        ("leadscore.reason", reason.encode()),
        ("leadscore.detail", detail.encode("utf-8", "replace")[:2000]),
        ("leadscore.topic", topic.encode("utf-8", "replace")),
        ("leadscore.partition", str(partition).encode()),
        ("leadscore.offset", str(offset).encode()),
    ]
    if key is not None and len(key) > MAX_DEAD_KEY:
        headers += [
            ("leadscore.key_length", str(len(key)).encode()),
            ("leadscore.key_sha256", hashlib.sha256(key).hexdigest().encode()),
        ]
        key = key[:MAX_DEAD_KEY]
    cut = [
        ("leadscore.truncated", str(len(original)).encode()),
        ("leadscore.sha256", hashlib.sha256(original).hexdigest().encode()),
    ]
    room = limit - RECORD_OVERHEAD - len(key or b"") - _header_bytes(headers)
    if len(original) > room:
        headers += cut
        original = original[: max(room - _header_bytes(cut), 0)]
    return OutMessage(Channel.DLQ, key, original, tuple(headers))


def _header_bytes(headers: list[tuple[str, bytes]]) -> int:
    return sum(len(name.encode()) + len(value) + 10 for name, value in headers)
