"""The explorer's live feed reads a topic anyone may write to: no message may break it."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.http.explorer import HotFeed
from streams.settings import Settings
from tests.support.strategies import json_value

deep = st.integers(250, 400).map(lambda d: b'{"alert_id": ' + b"[" * d + b"]" * d + b"}")
alert_like = st.dictionaries(
    st.sampled_from(["alert_id", "kind", "lead_id", "score", "explanation", "route"]),
    json_value,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=50), json_value.map(orjson.dumps), deep,
                          alert_like.map(orjson.dumps)), max_size=8))  # fmt: skip
def test_any_message_on_the_topic_leaves_rows_a_browser_can_read(values: list[bytes]) -> None:
    feed = HotFeed(Settings(kafka_bootstrap="127.0.0.1:1"), ["leads.hot"])
    for value in values:
        feed.publish(value)
    for row in feed.recent:  # each row is sent to browsers as JSON again
        assert isinstance(orjson.loads(orjson.dumps(row)), dict)


def _alert(n: int, emitted_at: str, explanation: list[dict[str, object]] | None = None) -> bytes:
    return orjson.dumps(
        {"alert_id": f"a-{n}", "kind": "hot", "lead_id": f"l-{n}", "score": 80,
         "emitted_at": emitted_at, "explanation": explanation or []}
    )  # fmt: skip


def test_a_replayed_backlog_comes_out_in_alert_time_across_partitions() -> None:
    feed = HotFeed(Settings(kafka_bootstrap="127.0.0.1:1"), ["leads.hot"])
    # as a backlog arrives: partition 0's records, then partition 1's
    partition_0 = [(_alert(1, "2026-01-05T10:00:01Z"), 1), (_alert(3, "2026-01-05T10:00:03Z"), 3)]
    late_ms = int(datetime(2026, 1, 5, 10, 0, 4, tzinfo=UTC).timestamp() * 1000)
    partition_1 = [(_alert(2, "2026-01-05T10:00:02Z"), 2), (_alert(4, "bad time"), late_ms)]
    feed.replay(partition_0 + partition_1)
    assert [row["alert_id"] for row in feed.recent] == ["a-1", "a-2", "a-3", "a-4"]


def test_reasons_are_the_largest_gains_and_penalties_stand_apart() -> None:
    explanation = [
        {"rule": "engagement_cap", "points": -21},
        {"rule": "pricing_page", "points": 20},
        {"rule": "webinar", "points": 15},
        {"rule": "senior_title", "points": 20},
        {"rule": "blog", "points": 2},
        {"rule": "personal_email", "points": -15},
    ]
    feed = HotFeed(Settings(kafka_bootstrap="127.0.0.1:1"), ["leads.hot"])
    feed.publish(_alert(1, "2026-01-05T10:00:01Z", explanation))
    row = feed.recent[0]
    assert [r["rule"] for r in row["reasons"]] == ["pricing_page", "senior_title", "webinar"]
    assert row["penalties"] == [
        {"rule": "engagement_cap", "points": -21},
        {"rule": "personal_email", "points": -15},
    ]


def test_account_alerts_join_the_feed_in_alert_time_and_keep_their_account() -> None:
    feed = HotFeed(Settings(kafka_bootstrap="127.0.0.1:1"), ["leads.hot", "accounts.hot"])
    account = orjson.dumps(
        {"alert_id": "acc-1", "kind": "hot", "account_id": "acme", "engaged_contacts": 3,
         "score": 70, "route": "account_team", "emitted_at": "2026-01-05T10:00:02Z",
         "members": [{"lead_id": "l-1", "score": 40}], "explanation": []}
    )  # fmt: skip
    # one backlog from both topics, each topic's records together
    leads = [(_alert(1, "2026-01-05T10:00:01Z"), 1), (_alert(3, "2026-01-05T10:00:03Z"), 3)]
    feed.replay([*leads, (account, 2)])
    rows = list(feed.recent)
    assert [r["alert_id"] for r in rows] == ["a-1", "acc-1", "a-3"]
    (row,) = [r for r in rows if r["alert_id"] == "acc-1"]
    assert (row["account_id"], row["engaged_contacts"], row["lead_id"]) == ("acme", 3, None)
