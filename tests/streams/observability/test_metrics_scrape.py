"""A real Prometheus (Debian's package) scrapes the worker and answers queries about it."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.support.seeds import seed_hot_lead
from tests.support.worker import WorkerProcess, free_port, jsonl, run_cli

pytestmark = pytest.mark.integration


def test_prometheus_scrapes_the_events_counter(
    start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus is not installed (ops/test installs it)"
    worker = start_worker()
    assert (
        run_cli(
            "produce", "-", env=worker.env, stdin=jsonl(seed_hot_lead("m-lead", datetime.now(UTC)))
        ).returncode
        == 0
    )
    worker.wait_handled(8)

    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: leadscore\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{worker.port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        query = urllib.parse.quote("sum(leadscore_events_consumed_total)")
        url = f"http://127.0.0.1:{port}/api/v1/query?query={query}"
        deadline = time.monotonic() + 60
        result: list[dict[str, object]] = []
        while time.monotonic() < deadline and not result:
            time.sleep(1)
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    result = orjson.loads(response.read())["data"]["result"]
            except OSError:
                continue
        assert result, (tmp_path / "prometheus.log").read_text()[-2000:]
        value = result[0]["value"]
        assert isinstance(value, list) and float(value[1]) == 8.0
    finally:
        server.terminate()
        server.wait(30)
        log.close()
