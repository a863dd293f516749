"""Worker logs: one JSON object per line by default, readable text when asked, and never the
personal data of the leads the worker handled (issue 7)."""

from __future__ import annotations

import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from streams.observability.logs import JsonFormatter
from tests.support.seeds import seed_hot_lead
from tests.support.worker import WorkerProcess, jsonl, run_cli

StartWorker = Callable[..., WorkerProcess]


def test_json_formatter_keeps_extras_and_errors() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        error = sys.exc_info()
    record = logging.makeLogRecord(
        {"name": "t", "levelno": logging.ERROR, "levelname": "ERROR", "msg": "lead %s failed",
         "args": ("x",), "exc_info": error, "partition": 3}
    )  # fmt: skip
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["message"] == "lead x failed" and entry["level"] == "ERROR"
    assert entry["partition"] == 3 and "ValueError: boom" in entry["error"]


@pytest.mark.integration
def test_worker_logs_are_json_lines_without_personal_data(
    start_worker: StartWorker, tmp_path: Path, unique: str
) -> None:
    worker = start_worker()
    emails = [f"person-{unique}-{n}@example.org" for n in range(3)]
    events = []
    for n, email in enumerate(emails):
        seed = seed_hot_lead(f"log-lead-{n}", datetime.now(UTC))
        seed[0]["properties"]["email"] = email
        seed[0]["properties"]["full_name"] = f"Dana Example {unique}"
        events += seed
    path = tmp_path / "events.jsonl"
    path.write_bytes(jsonl(events) + b'{"broken": "dana-' + unique.encode() + b'@example.org"\n')
    run_cli("produce", str(path), env=worker.env)
    # the HTTP way in, with a valid lead and an item that fails validation, both carrying an email
    posted = seed_hot_lead("log-lead-http", datetime.now(UTC))
    emails.append(f"poster-{unique}@example.org")
    posted[0]["properties"]["email"] = emails[-1]
    bad_item = {"lead_id": f"x-{unique}@example.org", "type": "page_view"}
    request = urllib.request.Request(
        f"http://127.0.0.1:{worker.port}/events",
        data=orjson.dumps([*posted, bad_item]),
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as answered:
        urllib.request.urlopen(request, timeout=10)
    assert answered.value.code == 422  # the caller hears what was wrong; the log does not keep it
    worker.wait_handled(len(events) + len(posted))
    metrics = worker.get("/metrics").decode()
    worker.stop()

    for email in emails:
        assert email not in metrics
    assert unique not in metrics.replace(f"t-{unique}", "")
    text = worker.log_path.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) > 10
    for line in lines:
        entry = orjson.loads(line)  # every line parses: nothing printed around the logger
        assert {"time", "level", "logger", "message"} <= set(entry)
    assert any(orjson.loads(line)["logger"].startswith("faust") for line in lines)
    for email in emails:
        assert email not in text
    assert unique not in text.replace(f"t-{unique}", "")  # nor the names, nor the broken line


@pytest.mark.integration
def test_text_format_is_for_people(start_worker: StartWorker) -> None:
    worker = start_worker(LEADSCORE_LOG_FORMAT="text")
    worker.stop()
    lines = [line for line in worker.log_path.read_text().splitlines() if line.strip()]
    assert lines and not any(line.startswith("{") for line in lines)
    assert any(" INFO " in line and "faust" in line for line in lines)
