"""Model roll-out on a real worker with the real Kafka and Redis: reload on SIGHUP or on a changed
file, a broken file refused, promotion followed by a rescore, and a shadow model beside the active.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from streams.state.keys import Keys
from streams.state.redis_store import connect
from tests.support.rollout import publish_views, rollout_model, transitions
from tests.support.worker import WorkerProcess, read_topic

pytestmark = pytest.mark.integration

START = datetime.now(UTC) - timedelta(hours=2)
ALERTS = re.compile(r"^leadscore_transitions_total\{([^}]*)\} ([0-9.e+-]+)$", re.MULTILINE)


def _until(check: Callable[[], bool], worker: WorkerProcess, what: str, within: float = 90) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"{what}\n{worker.tail()}"
        time.sleep(0.5)


def _log_has(worker: WorkerProcess, text: str) -> bool:
    return text in worker.log_path.read_text(errors="replace")


def _hot(worker: WorkerProcess, bootstrap: str) -> Counter[tuple[str, str, int]]:
    return transitions(bootstrap, worker.env["LEADSCORE_TOPIC_PREFIX"] + "leads.hot")


def _scored_under_80(
    start_worker: Callable[..., WorkerProcess], bootstrap: str, model: Path, **settings: str
) -> WorkerProcess:
    """A worker running the threshold-80 model from ``model``, with five leads scored: two hot."""
    model.write_text(rollout_model(1, 80, 70))
    worker = start_worker(LEADSCORE_MODEL=str(model), **settings)
    prefix = worker.env["LEADSCORE_TOPIC_PREFIX"]
    sent = publish_views(
        bootstrap, prefix, {"l50": 5, "l70": 7, "l75": 7, "l80": 8, "l90": 9}, START
    )
    worker.wait_handled(sent)
    _until(lambda: len(_hot(worker, bootstrap)) == 2, worker, "the two leads at 80 and 90 alerted")
    assert sorted(_hot(worker, bootstrap)) == [("l80", "hot", 1), ("l90", "hot", 1)]
    return worker


def test_a_broken_model_sent_with_sighup_is_refused_and_a_good_one_is_promoted_and_rescored(
    start_worker: Callable[..., WorkerProcess], kafka_bootstrap: str, tmp_path: Path
) -> None:
    model = tmp_path / "model.yaml"
    worker = _scored_under_80(
        start_worker, kafka_bootstrap, model, LEADSCORE_MODEL_WATCH_INTERVAL="0"
    )
    prefix = worker.env["LEADSCORE_TOPIC_PREFIX"]
    assert worker.process is not None
    before = _hot(worker, kafka_bootstrap)

    model.write_text(rollout_model(2, 70, 60).replace("hot: 70", "hot: seventy"))
    worker.process.send_signal(signal.SIGHUP)
    _until(lambda: _log_has(worker, "refused"), worker, "the broken file was not refused")
    refusals = [line for line in worker.tail(200).splitlines() if "refused" in line]
    assert len(refusals) == 1
    assert str(model) in refusals[0] and "thresholds.hot" in refusals[0]
    assert "still scoring with rollout@1" in refusals[0]
    # still the old model: a new lead at 80 is hot, one at 70 is not
    handled = worker.handled()
    sent = publish_views(kafka_bootstrap, prefix, {"n70": 7, "n80": 8}, START)
    worker.wait_handled(int(handled) + sent)
    _until(lambda: ("n80", "hot", 1) in _hot(worker, kafka_bootstrap), worker, "n80 not alerted")
    assert worker.process.poll() is None
    old = _hot(worker, kafka_bootstrap)
    assert old - before == Counter({("n80", "hot", 1): 1})

    model.write_text(rollout_model(2, 70, 60))
    worker.process.send_signal(signal.SIGHUP)
    expected = {("l70", "hot", 1), ("l75", "hot", 1), ("n70", "hot", 1)}
    _until(
        lambda: set(_hot(worker, kafka_bootstrap) - old) == expected,
        worker,
        "the promotion's rescore did not announce the leads now over 70",
    )
    # the new threshold scores new events too
    handled = worker.handled()
    sent = publish_views(kafka_bootstrap, prefix, {"m70": 7}, START)
    worker.wait_handled(int(handled) + sent)
    _until(lambda: ("m70", "hot", 1) in _hot(worker, kafka_bootstrap), worker, "m70 not alerted")

    worker.process.send_signal(signal.SIGHUP)  # the same file again: nothing to promote
    _until(lambda: _log_has(worker, "nothing changed"), worker, "the second reload not logged")
    time.sleep(3)
    after = _hot(worker, kafka_bootstrap)
    assert after - old == Counter(dict.fromkeys([*expected, ("m70", "hot", 1)], 1))


def test_a_raised_threshold_written_to_disk_is_picked_up_and_cools_each_lead_once(
    start_worker: Callable[..., WorkerProcess], kafka_bootstrap: str, tmp_path: Path
) -> None:
    model = tmp_path / "model.yaml"
    worker = _scored_under_80(
        start_worker, kafka_bootstrap, model, LEADSCORE_MODEL_WATCH_INTERVAL="0.5"
    )
    before = _hot(worker, kafka_bootstrap)
    replacement = tmp_path / "next.yaml"
    replacement.write_text(rollout_model(2, 95, 92))
    replacement.replace(model)  # as deploy tools do: no SIGHUP, only the file
    expected = {("l80", "cooled", 1), ("l90", "cooled", 1)}
    _until(
        lambda: set(_hot(worker, kafka_bootstrap) - before) == expected,
        worker,
        "the raised threshold did not cool the leads below it",
    )
    assert _log_has(worker, "model reload (a model file changed): rollout@2 takes over")
    time.sleep(3)
    assert _hot(worker, kafka_bootstrap) - before == Counter(dict.fromkeys(expected, 1))


def _alerts_by_model(worker: WorkerProcess) -> dict[tuple[str, str, str], float]:
    found: dict[tuple[str, str, str], float] = {}
    for labels, value in ALERTS.findall(worker.get("/metrics").decode()):
        parsed = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        found[(parsed["model"], parsed["role"], parsed["kind"])] = float(value)
    return found


def test_a_shadow_model_alerts_only_on_leads_shadow_and_redelivery_publishes_no_new_id(
    start_worker: Callable[..., WorkerProcess], kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(rollout_model(2, 70, 60))
    worker = _scored_under_80(
        start_worker,
        kafka_bootstrap,
        tmp_path / "model.yaml",
        LEADSCORE_SHADOW_MODEL=str(candidate),
    )
    prefix = worker.env["LEADSCORE_TOPIC_PREFIX"]
    shadow_topic = prefix + "leads.shadow"
    expected = {("l70", "hot", 1), ("l75", "hot", 1), ("l80", "hot", 1), ("l90", "hot", 1)}
    _until(
        lambda: set(transitions(kafka_bootstrap, shadow_topic)) == expected,
        worker,
        "the shadow's crossings did not reach leads.shadow",
    )
    assert sorted(_hot(worker, kafka_bootstrap)) == [("l80", "hot", 1), ("l90", "hot", 1)]
    by_model = _alerts_by_model(worker)
    assert by_model[("rollout", "active", "hot")] == 2
    assert by_model[("shadow.rollout", "shadow", "hot")] == 4
    first = _shadow_ids(kafka_bootstrap, shadow_topic)
    assert len(first) == 4

    # Everything delivered again, as after a crash before any commit: a second consumer group on
    # the same topics and keys, and no checkpoint in Redis to skip it ahead, reads all events again.
    worker.stop()
    asyncio.run(_drop_checkpoints(redis_url, worker.env["LEADSCORE_REDIS_PREFIX"]))
    again = start_worker(
        LEADSCORE_MODEL=worker.env["LEADSCORE_MODEL"],
        LEADSCORE_SHADOW_MODEL=str(candidate),
        LEADSCORE_APP_ID=worker.env["LEADSCORE_APP_ID"] + "-again",
    )
    _until(lambda: again.metric("leadscore_dedupe_hits_total") >= 36, again, "no redelivery")
    time.sleep(3)
    assert _shadow_ids(kafka_bootstrap, shadow_topic) == first
    assert sorted(_hot(again, kafka_bootstrap)) == [("l80", "hot", 1), ("l90", "hot", 1)]


async def _drop_checkpoints(redis_url: str, prefix: str) -> None:
    client = connect(redis_url)
    try:
        await client.delete(Keys(prefix).offsets)
    finally:
        await client.aclose()


def _shadow_ids(bootstrap: str, topic: str) -> set[str]:
    return {
        str(orjson.loads(m.value)["alert_id"]) for m in asyncio.run(read_topic(bootstrap, topic))
    }
