"""``leadscore rescore`` against the real Kafka and Redis: a lowered threshold announced at once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from scoring.events import EventType
from streams.kafka.topics import TopicNames, topic_for
from tests.support.rollout import pricing_views, rollout_model
from tests.support.worker import WorkerProcess, publish_raw, read_topic, run_cli

pytestmark = pytest.mark.integration


def _hot(bootstrap: str, prefix: str) -> Counter[tuple[str, str, int]]:
    """Every alert on the routing topic, as (lead, kind, crossing), counted."""
    messages = asyncio.run(read_topic(bootstrap, prefix + "leads.hot"))
    alerts = [orjson.loads(m.value) for m in messages]
    return Counter((a["lead_id"], a["kind"], a["crossing"]) for a in alerts)


def _scored_under_80(
    start_worker: Callable[..., WorkerProcess], kafka_bootstrap: str, tmp_path: Path
) -> tuple[WorkerProcess, Path, Counter[tuple[str, str, int]]]:
    """Five leads scored by a worker under a hot threshold of 80, which then stopped; the
    threshold-70 model file; and the alerts so far."""
    at80, at70 = tmp_path / "80.yaml", tmp_path / "70.yaml"
    at80.write_text(rollout_model(1, 80, 70))
    at70.write_text(rollout_model(2, 70, 60))
    worker = start_worker(LEADSCORE_MODEL=str(at80))
    prefix = worker.env["LEADSCORE_TOPIC_PREFIX"]
    start = datetime.now(UTC) - timedelta(hours=1)
    views = {"l50": 5, "l70": 7, "l75": 7, "l80": 8, "l90": 9}  # ten points a view
    events = pricing_views(views, start)
    topic = topic_for(EventType.PAGE_VIEW, TopicNames(prefix))
    asyncio.run(
        publish_raw(
            kafka_bootstrap, [(topic, e["lead_id"].encode(), orjson.dumps(e)) for e in events]
        )
    )
    worker.wait_handled(len(events))
    worker.stop()
    before = _hot(kafka_bootstrap, prefix)
    assert sorted(before) == [("l80", "hot", 1), ("l90", "hot", 1)]
    return worker, at70, before


def test_rescore_announces_what_a_lowered_threshold_makes_hot_once(
    start_worker: Callable[..., WorkerProcess], kafka_bootstrap: str, tmp_path: Path
) -> None:
    worker, at70, before = _scored_under_80(start_worker, kafka_bootstrap, tmp_path)
    prefix = worker.env["LEADSCORE_TOPIC_PREFIX"]
    env = {**worker.env, "LEADSCORE_MODEL": str(at70), "LEADSCORE_RESCORE_ON_START": "false"}
    result = run_cli("rescore", env=env)
    assert result.returncode == 0, result.stderr
    assert "rescored 5 leads: 2 alerts published" in result.stdout.decode()
    after = _hot(kafka_bootstrap, prefix) - before
    assert sorted(after.elements()) == [("l70", "hot", 1), ("l75", "hot", 1)]
    again = run_cli("rescore", env=env)
    assert again.returncode == 0, again.stderr
    assert "0 alerts published" in again.stdout.decode()
    assert _hot(kafka_bootstrap, prefix) == before + after  # nothing more, nothing twice


@pytest.mark.parametrize("on_start", [True, False])
def test_a_worker_started_with_other_models_rescores_unless_told_not_to(
    start_worker: Callable[..., WorkerProcess],
    kafka_bootstrap: str,
    tmp_path: Path,
    on_start: bool,
) -> None:
    worker, at70, before = _scored_under_80(start_worker, kafka_bootstrap, tmp_path)
    prefix = worker.env["LEADSCORE_TOPIC_PREFIX"]
    setting = "true" if on_start else "false"
    second = start_worker(LEADSCORE_MODEL=str(at70), LEADSCORE_RESCORE_ON_START=setting)
    expected = [("l70", "hot", 1), ("l75", "hot", 1)] if on_start else []
    deadline = time.monotonic() + 60
    while True:
        after = _hot(kafka_bootstrap, prefix) - before
        if sorted(after.elements()) == expected:
            break
        assert time.monotonic() < deadline, (sorted(after.elements()), second.tail())
    if not on_start:  # give a wrong rescore time to show itself
        time.sleep(5)
        assert not _hot(kafka_bootstrap, prefix) - before
