"""The Kafka Connect examples parse, read leadscore's real output topics, and keep secrets out."""

from __future__ import annotations

import json

from streams.settings import TopicNames
from tests.support.paths import ROOT

CONNECT = ROOT / "ops" / "connect"


def test_connector_examples_read_leadscore_topics_without_inline_secrets() -> None:
    topics = TopicNames("")
    files = sorted(CONNECT.glob("*.json"))
    assert len(files) >= 2
    for path in files:
        connector = json.loads(path.read_text())
        config = connector["config"]
        assert connector["name"] and config["connector.class"]
        assert set(config["topics"].split(",")) <= {topics.hot, topics.scores}, path.name
        for key, value in config.items():
            if any(word in key for word in ("password", "secret")):
                assert value.startswith("${file:"), f"{path.name}: {key} is inline"
        assert path.name in (CONNECT / "README.md").read_text()
