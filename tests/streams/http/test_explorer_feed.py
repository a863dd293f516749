"""The explorer's live feed reads a topic anyone may write to: no message may break it."""

from __future__ import annotations

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
    feed = HotFeed(Settings(kafka_bootstrap="127.0.0.1:1"), "leads.hot")
    for value in values:
        feed.publish(value)
    for row in feed.recent:  # each row is sent to browsers as JSON again
        assert isinstance(orjson.loads(orjson.dumps(row)), dict)
