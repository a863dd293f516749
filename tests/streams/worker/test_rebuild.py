"""What a rebuild or a replay takes from the routing topic as already announced."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.worker.rebuild import Announced, announcements, fold_announcements
from tests.support.strategies import json_value


def alert(lead: str, kind: str, crossing: int, model: str = "default") -> dict[str, Any]:
    return {"lead_id": lead, "model": model, "kind": kind, "crossing": crossing}


def fold(*alerts: dict[str, Any]) -> Announced:
    announced: Announced = {}
    fold_announcements(announced, alerts)
    return announced


def test_the_last_crossing_and_its_cooling_are_what_was_told() -> None:
    assert fold(alert("a", "hot", 1)) == {("a", "default"): (1, True)}
    assert fold(alert("a", "hot", 1), alert("a", "cooled", 1)) == {("a", "default"): (1, False)}
    assert fold(alert("a", "hot", 1), alert("a", "cooled", 1), alert("a", "hot", 2)) == {
        ("a", "default"): (2, True)
    }


def test_an_earlier_crossing_announced_again_by_a_replay_does_not_lower_the_count() -> None:
    # Redis lost writes; the worker replayed them in other batches and crossed only once, so it
    # announced crossing 1 again after crossing 2 had gone out.
    told = fold(
        alert("a", "hot", 1),
        alert("a", "cooled", 1),
        alert("a", "hot", 2),
        alert("a", "hot", 1),
        alert("a", "cooled", 1),
    )
    assert told == {("a", "default"): (2, True)}


def test_a_replayed_alert_after_its_cooling_leaves_the_lead_cooled() -> None:
    told = fold(alert("a", "hot", 3), alert("a", "cooled", 3), alert("a", "hot", 3))
    assert told == {("a", "default"): (3, False)}


def test_leads_and_models_are_folded_apart() -> None:
    told = fold(alert("a", "hot", 2), alert("b", "hot", 1), alert("a", "hot", 1, model="other"))
    assert told == {
        ("a", "default"): (2, True),
        ("b", "default"): (1, True),
        ("a", "other"): (1, True),
    }


def test_folding_continues_from_what_earlier_batches_told() -> None:
    announced: Announced = {}
    fold_announcements(announced, [alert("a", "hot", 2)])
    fold_announcements(announced, [alert("a", "hot", 1)])
    assert announced == {("a", "default"): (2, True)}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), json_value.map(orjson.dumps), st.none())))
def test_anything_else_on_the_routing_topic_is_skipped(junk: list[bytes | None]) -> None:
    real = [orjson.dumps(alert("a", "hot", 1)), orjson.dumps(alert("a", "cooled", 1))]
    announced: Announced = {}
    fold_announcements(announced, announcements([*junk[:3], real[0], *junk[3:], real[1]]))
    assert announced == {("a", "default"): (1, False)}
    assert all(isinstance(a["crossing"], int) for a in announcements(junk))
