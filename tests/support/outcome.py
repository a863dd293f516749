"""The end of every fault test: nothing lost, nothing doubled, every alert announced once by id.

Pure: it takes the events that were produced, the leads as stored and the alerts read back from
``leads.hot``, so single-Redis and cluster tests load them their own way and judge them alike.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from scoring.engine import evaluate
from scoring.events import parse_event
from scoring.offline import score_events
from streams.kafka.messages import transition_id
from streams.modelfile import load_models
from streams.state.record import StoredLead


def check_outcome(
    events: Sequence[dict[str, Any]],
    stored: Mapping[str, StoredLead],
    alerts: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """Assert the stored state and the alerts are those of each event applied exactly once."""
    at = datetime.now(UTC)
    models = load_models(None)
    model = models[0]
    expected = {s.lead_id: s for s in score_events((parse_event(e) for e in events), models, at)}
    unique_events = Counter(e["lead_id"] for e in {e["event_id"]: e for e in events}.values())
    scores = {k: evaluate(stored[k].state(model.name), model, at).score for k in expected}
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
