"""The end of every fault test: nothing lost, nothing doubled, every alert announced once by id.

Pure: it takes the events that were produced, the leads as stored and the alerts read back from
``leads.hot``, so single-Redis and cluster tests load them their own way and judge them alike.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from scoring.accounts import AccountScore
from scoring.events import parse_event
from scoring.offline import Batch, score_events
from streams.kafka.messages import account_transition_id, transition_id
from streams.modelfile import load_models
from streams.state.record import StoredLead
from streams.worker.accounts import account_scores, account_state
from streams.worker.processor import score_now


def check_outcome(
    events: Sequence[dict[str, Any]],
    stored: Mapping[str, StoredLead],
    alerts: Sequence[dict[str, Any]],
    visitors: Mapping[str, StoredLead] | None = None,
) -> dict[str, Any]:
    """Assert the stored state and the alerts are those of each event applied exactly once.

    A lead's score counts the records of the anonymous ``visitors`` it was identified as, as the
    worker's does; its own record holds only the events that named it.
    """
    at = datetime.now(UTC)
    models = load_models(None)
    model = models[0]
    expected = {s.lead_id: s for s in score_events((parse_event(e) for e in events), models, at)}
    unique_events = Counter(
        e["lead_id"] for e in {e["event_id"]: e for e in events}.values() if e.get("lead_id")
    )
    scores = {k: score_now(stored[k], models, at, visitors)[0].score for k in expected}
    wrong = {k: (scores[k], s.score) for k, s in expected.items() if scores[k] != s.score}
    assert not wrong, (
        f"{len(wrong)} leads differ from the offline result: {list(wrong.items())[:5]}"
    )
    seen = {k: len(stored[k].state(model.name).seen) for k in expected}
    lost = {k: (seen[k], unique_events[k]) for k in expected if seen[k] < unique_events[k]}
    doubled = {k: (seen[k], unique_events[k]) for k in expected if seen[k] > unique_events[k]}
    assert not lost, f"events lost from the state: {list(lost.items())[:5]}"
    assert not doubled, f"events doubled in the state: {list(doubled.items())[:5]}"
    assert not [k for k in expected if stored[k].outbox], "unsent outboxes remain"

    ids_by_transition: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    for alert in alerts:
        key = (alert["lead_id"], alert["kind"], alert["crossing"])
        ids_by_transition[key].add(alert["alert_id"])
    assert all(len(ids) == 1 for ids in ids_by_transition.values()), "a repeated alert got a new id"
    announced = {
        transition_id(lead, model.name, "hot", n)
        for lead in expected
        for n in range(1, stored[lead].state(model.name).crossings + 1)
    }
    sent = {a["alert_id"] for a in alerts if a["kind"] == "hot"}
    assert announced <= sent, f"{len(announced - sent)} alerts never reached leads.hot"
    assert sent <= announced, f"{len(sent - announced)} alerts for crossings no lead made"
    return {
        "events": len(events),
        "leads": len(expected),
        "hot_alerts": len(announced),
        "messages_on_leads_hot": len(alerts),
        "repeated_with_same_id": len(alerts) - len({a["alert_id"] for a in alerts}),
        "lost": 0,
        "doubled": 0,
    }


def check_visitors_and_accounts(
    events: Sequence[dict[str, Any]],
    visitors: Mapping[str, StoredLead],
    accounts: Mapping[str, StoredLead],
    account_alerts: Sequence[dict[str, Any]],
    at: datetime,
) -> dict[str, Any]:
    """Assert every anonymous event is in its visitor's record exactly once, every account
    scores what offline ``score --accounts`` gives, and every crossing an account made has its
    alert on ``accounts.hot`` (and no other alert is there)."""
    models = load_models(None)
    model = models[0]
    unique = {e["event_id"]: e for e in events}.values()
    anonymous = Counter(e["anonymous_id"] for e in unique if e.get("anonymous_id"))
    seen = {k: len(visitors[k].state(model.name).seen) for k in anonymous}
    lost = {k: (seen[k], n) for k, n in anonymous.items() if seen[k] < n}
    doubled = {k: (seen[k], n) for k, n in anonymous.items() if seen[k] > n}
    assert not lost, f"anonymous events lost: {list(lost.items())[:5]}"
    assert not doubled, f"anonymous events doubled: {list(doubled.items())[:5]}"
    assert not [k for k in anonymous if visitors[k].outbox], "unsent visitor outboxes remain"

    batch = Batch(at)
    for raw in events:
        batch.add(parse_event(raw))

    # everything but hot and route, which depend on the path taken as for leads (an account
    # made hot on the way stays hot while it holds the re-arm level)
    def unpathed(score: AccountScore) -> dict[str, Any]:
        return {k: v for k, v in score.to_dict().items() if k not in ("hot", "route")}

    expected = {s.account_id: unpathed(s) for s in batch.score_accounts(models)}
    stored = {
        k: unpathed(account_scores(accounts[k], models, at)[0])
        for k in expected
        if accounts[k].version
    }
    wrong = {k: (stored.get(k), v) for k, v in expected.items() if stored.get(k) != v}
    assert not wrong, f"{len(wrong)} accounts differ from offline: {list(wrong.items())[:2]}"
    assert not [k for k in expected if accounts[k].outbox], "unsent account outboxes remain"

    announced = {
        account_transition_id(k, model.name, "hot", n)
        for k in expected
        for n in range(1, account_state(accounts[k], model.name).crossings + 1)
    }
    sent = {a["alert_id"] for a in account_alerts if a["kind"] == "hot"}
    assert announced <= sent, f"{len(announced - sent)} account alerts never reached accounts.hot"
    assert sent <= announced, f"{len(sent - announced)} account alerts for crossings not made"
    return {
        "visitors": len(anonymous),
        "anonymous_events": sum(anonymous.values()),
        "accounts": len(expected),
        "hot_accounts_expected": len(announced),
        "messages_on_accounts_hot": len(account_alerts),
    }
