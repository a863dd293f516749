"""Accounts in the worker: each lead tells its account how it stands; the account side scores.

Why a topic: a lead's events are keyed by the lead and an account's leads are spread over every
partition, so the lead side never writes an account. It publishes, from its outbox (a crash
resends rather than loses), a message keyed by the account id to the internal accounts topic, a
repartition that the worker reads back like an input, one batch at a time:

- a **member** message, the lead as its account sees it (:class:`scoring.accounts.Member`): its
  score and engagement at its latest event, under each model with an ``accounts`` section, the
  firmographics the account rules read, and ``since``, the event that put the lead in the account;
- a **leave** message to the previous account when a later event names another one.

The account side keeps, per model, the latest summary of each lead and the departures
(:class:`scoring.accounts.AccountState`): both are maxima, so any arrival order and any
redelivery end the same. It writes the account with compare-and-set, its alerts in its outbox,
as the lead side does, under the account's own hash tag (the lead store's machinery under the key
prefix ``{prefix}:account``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scoring.accounts import (
    AccountScore,
    AccountState,
    Member,
    account_attributes,
    account_cools_at,
    evaluate_account,
    latest_account,
    step_account,
)
from scoring.engine import evaluate
from scoring.events import MAX_ID_LENGTH, Event
from scoring.model import Model
from scoring.state import LeadState, event_digest
from streams.kafka import messages
from streams.kafka.messages import Channel
from streams.state.record import StoredLead

MEMBER: Final = "member"
LEAVE: Final = "leave"

_Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
_Time = Annotated[float, Field(allow_inf_nan=False, ge=0, le=1e11)]


class _Summary(BaseModel):
    """A lead under one model, as its account sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    score: int = Field(ge=0, le=100)
    engagement: float = Field(allow_inf_nan=False)  # penalties can make it negative
    profile: dict[str, tuple[Any, _Time]] = Field(default_factory=dict)


class AccountMessage(BaseModel):
    """A member summary or a departure, as on the accounts topic (keyed by ``account_id``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["member", "leave"]
    account_id: _Id
    lead_id: _Id
    since: tuple[_Time, int]
    t: _Time = 0.0
    seq: int = Field(default=0, ge=0, le=2**62)
    models: dict[str, _Summary] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    def member(self, model: str) -> Member | None:
        """The summary under ``model``; None when the message has none for it."""
        found = self.models.get(model)
        if found is None:
            return None
        profile = {name: (value, float(t)) for name, (value, t) in found.profile.items()}
        return Member(
            self.lead_id, found.score, found.engagement, self.t, profile, self.since, self.seq
        )


def decode_message(value: bytes | None) -> AccountMessage | str:
    """The message, or why it is not one (the worker dead-letters it with that reason)."""
    try:
        return AccountMessage.model_validate_json(value or b"")
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "message"
        return f"not an account message ({where}: {first['msg']})"


# ---- the lead side ---------------------------------------------------------------------------


def note_event(stored: StoredLead, event: Event) -> None:
    """Record an applied event in the lead's (or visitor's) membership: its latest event time,
    and for a lead, its account (that of its latest event carrying one)."""
    t = event.occurred_at.timestamp()
    membership = stored.membership
    if t > membership.get("last", -math.inf):
        membership["last"] = t
    if event.account_id is not None and event.lead_id is not None:
        tie = int.from_bytes(event_digest(event.event_id)[:4], "big")
        held = membership.get("account")
        current = None if held is None else (str(held[0]), float(held[1]), int(held[2]))
        found = latest_account(current, event.account_id, t, tie)
        if found is not None and found != current:
            if current is not None and current[0] != found[0]:
                membership.setdefault("left", {})[current[0]] = [found[1], found[2]]
            membership["account"] = list(found)


def last_event(stored: StoredLead, visitors: Sequence[StoredLead]) -> float | None:
    """The time of the latest event counted toward the lead, its visitors' included."""
    times = [s.membership["last"] for s in (stored, *visitors) if "last" in s.membership]
    return max(times) if times else None


def member_entries(
    stored: StoredLead,
    states: Mapping[str, LeadState],
    models: Sequence[Model],
    last: float | None,
    now: float,
) -> list[list[Any]]:
    """The outbox entries telling the lead's accounts what changed: a leave for each account it
    moved from, and its summary when that differs from the one last sent.

    ``states`` are the lead's states per model with its visitors combined in. Summaries are
    taken at the lead's latest event, as offline scoring takes them, so a tick of the cooling
    timer (no new event) sends nothing. Each summary sent gets a ``seq`` above the previous
    one's and not below the clock in milliseconds: should Redis lose the lead's last writes
    (and the ``seq`` with them), what the replay sends still outranks what was sent before.
    """
    membership = stored.membership
    out: list[list[Any]] = []
    for account_id, since in sorted(membership.pop("left", {}).items()):
        leave = AccountMessage.model_construct(
            kind=LEAVE,
            account_id=account_id,
            lead_id=stored.lead_id,
            since=(float(since[0]), int(since[1])),
            t=0.0,
            models={},
        )
        out.append([Channel.ACCOUNT.value, leave.to_bytes().decode(), account_id])
    held = membership.get("account")
    sectioned = [m for m in models if m.accounts is not None]
    if held is None or last is None or not sectioned:
        return out
    at = datetime.fromtimestamp(last, UTC)
    # Built as plain JSON from the worker's own values, in AccountMessage's shape: validation is
    # for what arrives, and this runs for every changed lead.
    summaries: dict[str, dict[str, Any]] = {}
    for model in sectioned:
        assert model.accounts is not None
        state = states[model.name]
        score = evaluate(state, model, at, explained=False)
        wanted = account_attributes(model.accounts)
        # sorted: the same summary must make the same bytes, however the profile was built
        profile = {n: (v, t) for n, (v, t, _) in sorted(state.profile.items()) if n in wanted}
        summaries[model.name] = {
            "score": score.score,
            "engagement": score.engagement,
            "profile": profile,
        }
    message: dict[str, Any] = {
        "kind": MEMBER,
        "account_id": str(held[0]),
        "lead_id": stored.lead_id,
        "since": (float(held[1]), int(held[2])),
        "t": last,
        "seq": 0,
        "models": summaries,
    }
    digest = hashlib.blake2b(orjson.dumps(message), digest_size=8).hexdigest()
    if membership.get("sent") != digest:
        seq = max(int(membership.get("seq", 0)) + 1, int(now * 1000))
        membership["sent"], membership["seq"] = digest, seq
        message["seq"] = seq
        out.append([Channel.ACCOUNT.value, orjson.dumps(message).decode(), str(held[0])])
    return out


# ---- the account side ------------------------------------------------------------------------


def account_state(stored: StoredLead, model: str) -> AccountState:
    """An account record's state under ``model`` (empty for an account never seen)."""
    doc = stored.group.get(model, {})
    state = AccountState(
        stored.lead_id, hot=bool(doc.get("hot", 0)), crossings=int(doc.get("crossings", 0))
    )
    for lead, (since_t, tie, t, score, engagement, profile, seq) in doc.get("members", {}).items():
        state.members[lead] = Member(
            lead,
            int(score),
            float(engagement),
            float(t),
            {name: (value, float(at)) for name, (value, at) in profile.items()},
            (float(since_t), int(tie)),
            int(seq),
        )
    state.left = {lead: (float(t), int(tie)) for lead, (t, tie) in doc.get("left", {}).items()}
    return state


def _keep(stored: StoredLead, model: str, state: AccountState, summary: str) -> None:
    stored.group[model] = {
        "hot": int(state.hot),
        "crossings": state.crossings,
        "summary": summary,
        "members": {
            m.lead_id: [
                m.since[0],
                m.since[1],
                m.t,
                m.score,
                m.engagement,
                {name: [value, t] for name, (value, t) in m.profile.items()},
                m.seq,
            ]
            for m in state.members.values()
        },
        "left": {lead: [t, tie] for lead, (t, tie) in state.left.items()},
    }


@dataclass(slots=True)
class AccountPlan:
    """What folding a batch's messages into one account gives: its alerts (outbox entries), the
    transitions by kind, and when it cools (None: not hot) if that needs writing."""

    changed: bool
    produced: list[list[Any]] = field(default_factory=list)
    transitions: list[str] = field(default_factory=list)
    cooling_at: float | None = None
    reschedule: bool = False


def plan_account(
    stored: StoredLead,
    news: Sequence[AccountMessage],
    models: Sequence[Model],
    now: float,
    force: bool,
    history_length: int,
) -> AccountPlan:
    """Apply ``news`` to an account record in place; no I/O. ``force``: re-evaluate even when
    nothing changed (the cooling timer)."""
    sectioned = [m for m in models if m.accounts is not None]
    states = {m.name: account_state(stored, m.name) for m in sectioned}
    changed = False
    latest: float | None = None
    cause = "decay"  # the lead whose news is latest names the change in the history
    for message in news:
        for model in sectioned:
            state = states[model.name]
            if message.kind == LEAVE:
                changed |= state.leave(message.lead_id, message.since)
                continue
            member = message.member(model.name)
            if member is not None and state.update(member):
                changed = True
                if latest is None or member.t >= latest:
                    latest, cause = member.t, message.lead_id
    plan = AccountPlan(changed)
    if not changed and not force:
        return plan
    at_s = now if latest is None else max(now, latest)
    at = datetime.fromtimestamp(at_s, UTC)
    emitted = datetime.fromtimestamp(now, UTC)
    event_time = None if latest is None else datetime.fromtimestamp(latest, UTC)
    entry: list[Any] = []
    summaries_changed = False
    for model in sectioned:
        state = states[model.name]
        result = evaluate_account(state, model, at, explained=False)
        transition = step_account(state, result)
        summary = f"{result.score}|{result.engaged_contacts}|{int(result.hot)}"
        summary += f"|{len(state.members)}"
        summaries_changed |= summary != stored.group.get(model.name, {}).get("summary")
        if transition is not None:
            # with the reasons now, for the people it alerts (the hysteresis memory, read by
            # the score, is reset to what it was before this step for a like-for-like score)
            result = evaluate_account(_before(state, transition.kind), model, at)
            plan.transitions.append(transition.kind)
            payload = messages.account_alert(
                result, transition.kind, transition.crossing, event_time, emitted
            )
            plan.produced.append([Channel.ACCOUNTS_HOT.value, messages.encode(payload).decode()])
        if state.hot and (transition is not None or force or changed):
            due = account_cools_at(state, model, at)
            if due is not None:
                ts = due.timestamp()
                plan.cooling_at = ts if plan.cooling_at is None else min(plan.cooling_at, ts)
        plan.reschedule |= transition is not None or force or changed
        entry += [result.score, result.engaged_contacts, int(result.hot), len(state.members)]
        _keep(stored, model.name, state, summary)
    plan.changed = True
    if summaries_changed and history_length:
        # [time, cause, then score, engaged contacts, hot, members of each sectioned model]
        stored.history = [[round(at_s, 3), cause, *entry], *stored.history][:history_length]
    return plan


def _before(state: AccountState, kind: str) -> AccountState:
    """The state as it was before a transition of ``kind``: hot, or cooled."""
    return replace(state, hot=kind != "hot")


def account_scores(stored: StoredLead, models: Sequence[Model], at: datetime) -> list[AccountScore]:
    """The account's score under each model with an accounts section, as of ``at``."""
    return [
        evaluate_account(account_state(stored, m.name), m, at)
        for m in models
        if m.accounts is not None
    ]


def expand_account_history(entry: list[Any], models: Sequence[Model]) -> dict[str, Any]:
    """A stored account history entry as the API shows it: one change per sectioned model."""
    at, cause, *values = entry
    sectioned = [m for m in models if m.accounts is not None]
    changes = [
        {
            "model": model.name,
            "score": values[i],
            "engaged_contacts": values[i + 1],
            "hot": bool(values[i + 2]),
            "members": values[i + 3],
        }
        for i, model in zip(range(0, len(values), 4), sectioned, strict=False)
    ]
    return {"at": at, "cause": cause, "changes": changes}


def account_view(stored: StoredLead, models: Sequence[Model], at: datetime) -> dict[str, Any]:
    """An account as ``GET /accounts/{id}`` and ``leadscore account`` show it: per model its
    score, members and explanation as of ``at``, its hysteresis memory, and its history."""
    scores = []
    for score in account_scores(stored, models, at):
        held = account_state(stored, score.model)
        scores.append({**score.to_dict(), "hot_state": held.hot, "crossings": held.crossings})
    return {
        "account_id": stored.lead_id,
        "scores": scores,
        "history": [expand_account_history(e, models) for e in stored.history],
    }


def _set_memory(stored: StoredLead, model: str, crossings: int, hot: bool) -> None:
    doc = stored.group.setdefault(model, {})
    doc["crossings"], doc["hot"] = crossings, int(hot)


def raise_to_announced(
    stored: StoredLead,
    announced: Mapping[tuple[str, str], tuple[int, bool]],
    models: Sequence[Model],
) -> bool:
    """After writes Redis lost were replayed: an account that counts fewer crossings than
    ``accounts.hot`` announced takes the announced ones, so its next alert gets a new id."""
    behind = False
    for model in models:
        if model.accounts is None:
            continue
        crossing, hot = announced.get((stored.lead_id, model.name), (0, False))
        if account_state(stored, model.name).crossings < crossing:
            _set_memory(stored, model.name, crossing, hot)
            behind = True
    return behind


def set_announced(
    stored: StoredLead,
    announced: Mapping[tuple[str, str], tuple[int, bool]],
    models: Sequence[Model],
) -> bool:
    """For a rebuild: the account's hysteresis memory is what ``accounts.hot`` announced."""
    for model in models:
        if model.accounts is not None:
            crossing, hot = announced.get((stored.lead_id, model.name), (0, False))
            _set_memory(stored, model.name, crossing, hot)
    return True


def cooling_due(stored: StoredLead, models: Sequence[Model]) -> float | None:
    """The earliest time any of the account's hot states would cool; None when none is hot."""
    now = datetime.now(UTC)
    due: float | None = None
    for model in models:
        if model.accounts is None:
            continue
        at = account_cools_at(account_state(stored, model.name), model, now)
        if at is not None:
            due = at.timestamp() if due is None else min(due, at.timestamp())
    return due
