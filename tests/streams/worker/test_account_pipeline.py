"""Accounts end to end: real Kafka, real Redis, a real `leadscore worker` process.

The acceptance story of issue 15: three leads of one account, each below the lead threshold but
engaged, make exactly one alert on `accounts.hot`; publishing the same events again makes no new
alert id; the account's score is what offline `leadscore score --accounts` gives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from scoring.model import default_model
from streams.kafka.messages import account_transition_id
from streams.observability.metrics import Metrics
from streams.state.keys import Keys
from streams.state.redis_store import RedisLeadStore, connect
from streams.worker import accounts as account_side
from tests.support.accounts import engaged_lead, offline_accounts
from tests.support.worker import WorkerProcess, jsonl, read_topic, run_cli

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]


def stored_account(
    worker: WorkerProcess, redis_url: str, account_id: str, at: datetime
) -> dict[str, Any] | None:
    """The account's score as the worker stored it, as of ``at``."""

    async def load() -> dict[str, Any] | None:
        client = connect(redis_url)
        keys = Keys(worker.env["LEADSCORE_REDIS_PREFIX"]).accounts
        try:
            stored = (await RedisLeadStore(client, keys, 5, Metrics()).load([account_id]))[
                account_id
            ]
        finally:
            await client.aclose()
        if not stored.version:
            return None
        (score,) = account_side.account_scores(stored, [default_model()], at)
        return score.to_dict()

    return asyncio.run(load())


def test_three_engaged_leads_make_one_account_alert_equal_to_offline_scoring(
    start_worker: StartWorker, kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    worker = start_worker()
    now = datetime.now(UTC)
    events = [
        e
        for n in range(3)
        for e in engaged_lead(f"buyer-{n}", "acct-big", now - timedelta(hours=3 - n))
    ]
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(events))
    done = run_cli("produce", str(path), env=worker.env)
    assert done.returncode == 0, done.stderr

    at = now + timedelta(minutes=1)
    expected = offline_accounts(events, [default_model()], at)["acct-big"].to_dict()
    assert expected["hot"] and expected["engaged_contacts"] == 3
    deadline = time.monotonic() + 90
    while stored_account(worker, redis_url, "acct-big", at) != expected:
        assert time.monotonic() < deadline, (
            stored_account(worker, redis_url, "acct-big", at),
            expected,
        )
        time.sleep(0.5)

    prefix = worker.env["LEADSCORE_TOPIC_PREFIX"]
    hot_accounts = prefix + "accounts.hot"
    deadline = time.monotonic() + 60
    alerts: list[dict[str, Any]] = []
    while not alerts:
        assert time.monotonic() < deadline, worker.tail()
        alerts = [
            orjson.loads(r.value) for r in asyncio.run(read_topic(kafka_bootstrap, hot_accounts))
        ]
        time.sleep(0.5)
    (alert,) = alerts
    assert alert["alert_id"] == account_transition_id("acct-big", "default", "hot", 1)
    assert alert["engaged_contacts"] == 3 and alert["score"] == expected["score"]
    lead_alerts = asyncio.run(read_topic(kafka_bootstrap, prefix + "leads.hot"))
    assert lead_alerts == []  # none of the three is hot alone
    assert worker.metric("leadscore_account_transitions_total") == 1

    api = orjson.loads(worker.get("/accounts/acct-big"))
    assert api["account_id"] == "acct-big"
    (score,) = api["scores"]
    assert score["hot_state"] and score["crossings"] == 1
    assert {m["lead_id"] for m in score["members"]} == {"buyer-0", "buyer-1", "buyer-2"}
    assert api["history"] and api["history"][0]["changes"][0]["engaged_contacts"] == 3
    shown = run_cli("account", "acct-big", "--at", at.isoformat(), env=worker.env)
    assert shown.returncode == 0, shown.stderr
    assert orjson.loads(shown.stdout)["scores"][0]["score"] == expected["score"]
    missing = run_cli("account", "acct-none", env=worker.env)
    assert missing.returncode == 1 and b"not in Redis" in missing.stderr

    again = tmp_path / "again.jsonl"  # everything published once more: no new alert id
    again.write_bytes(jsonl(events))
    assert run_cli("produce", str(again), env=worker.env).returncode == 0
    worker.wait_handled(2 * len(events))
    time.sleep(3)  # time for any summary the repeats might (wrongly) send to come round
    records = asyncio.run(read_topic(kafka_bootstrap, hot_accounts))
    assert [orjson.loads(r.value)["alert_id"] for r in records] == [alert["alert_id"]]
    assert stored_account(worker, redis_url, "acct-big", at) == expected
