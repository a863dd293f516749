"""The README's main command: `ops/run` brings up everything and prints hot-lead alerts."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from tests.support.paths import ROOT
from tests.support.worker import remove_deployment, worker_env

pytestmark = pytest.mark.integration


def test_ops_run_prints_hot_lead_alerts(kafka_bootstrap: str, redis_url: str, unique: str) -> None:
    env = worker_env(kafka_bootstrap, redis_url, unique, LEADSCORE_RUN_SECONDS="20")
    try:
        result = subprocess.run(
            [str(ROOT / "ops" / "run")], env=env, capture_output=True, text=True, timeout=240
        )
    finally:
        asyncio.run(remove_deployment(kafka_bootstrap, redis_url, f"t-{unique}"))
    assert result.returncode == 0, result.stderr[-2000:]
    hot = [line for line in result.stdout.splitlines() if line.startswith("HOT ")]
    assert any(" -> senior_ae " in line for line in hot), result.stdout[-2000:]
