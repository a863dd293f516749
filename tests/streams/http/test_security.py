"""Security of a real worker (issue 7): the API token, the request size limit, a Redis that wants a
password, and a Kafka listener that wants SASL/SCRAM. Secrets must never show up in answers or logs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.support.http import request, wait_for_lead
from tests.support.paths import STACK
from tests.support.seeds import seed_hot_lead
from tests.support.worker import WorkerProcess, free_port, jsonl, run_cli, worker_env

pytestmark = pytest.mark.integration

StartWorker = Callable[..., WorkerProcess]


def test_token_guards_the_api_but_not_probes(start_worker: StartWorker) -> None:
    token = secrets.token_urlsafe(24)
    wrong = "wrong-" + secrets.token_hex(12)
    worker = start_worker(LEADSCORE_API_TOKEN=token, LEADSCORE_MAX_REQUEST_BYTES="4096")
    seed = orjson.dumps(seed_hot_lead("auth-lead", datetime.now(UTC)))

    for presented in (None, wrong):
        for method, path, body in (("POST", "/events", seed), ("GET", "/leads/auth-lead", None)):
            status, headers, answer = request(worker, method, path, body, presented)
            assert status == 401, (method, path, answer)
            assert headers.get("WWW-Authenticate", "").startswith("Bearer")
            assert b"bearer token is required" in answer
            assert wrong.encode() not in answer and token.encode() not in answer
    for path in ("/leads?prefix=auth", "/events/hot"):
        assert request(worker, "GET", path, token=wrong)[0] == 401
    status, _, _ = request(worker, "POST", "/events", seed, f"{token} trailing")
    assert status == 401  # close is not equal

    status, _, answer = request(worker, "POST", "/events", seed, token)
    assert status == 202, answer
    assert orjson.loads(answer)["accepted"] == len(orjson.loads(seed))
    assert orjson.loads(wait_for_lead(worker, "auth-lead", token))["scores"][0]["score"] == 85

    oversized = b"[" + b" " * 5000 + b"]"
    status, _, answer = request(worker, "POST", "/events", oversized, token)
    assert status == 413 and b"4096" in answer

    assert request(worker, "GET", "/healthz")[0] == 200
    assert request(worker, "GET", "/metrics")[0] == 200
    assert request(worker, "GET", "/explorer")[0] == 200  # the page holds no data

    worker.stop()
    log = worker.log_path.read_text()
    assert wrong not in log and token not in log


def test_size_limit_holds_without_a_token(start_worker: StartWorker) -> None:
    worker = start_worker(LEADSCORE_MAX_REQUEST_BYTES="2048")
    status, _, answer = request(worker, "POST", "/events", b"[" + b" " * 3000 + b"]")
    assert status == 413, answer
    status, _, _ = request(worker, "POST", "/events", b"[]")
    assert status == 202


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A Redis of this test's own, started with ``requirepass``: (port, password)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port, password = free_port(), secrets.token_hex(16)
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp_path),
         "--save", "", "--appendonly", "no", "--requirepass", password],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(
            ["redis-cli", "-p", str(port), "--no-auth-warning", "-a", password, "ping"],
            capture_output=True, text=True,
        ).stdout.strip() != "PONG":  # fmt: skip
            assert time.monotonic() < deadline, "private Redis did not answer"
            time.sleep(0.1)
        yield port, password
    finally:
        process.terminate()
        process.wait(10)


def test_worker_uses_a_redis_password_and_never_logs_it(
    start_worker: StartWorker, private_redis: tuple[int, str], tmp_path: Path
) -> None:
    port, password = private_redis
    worker = start_worker(LEADSCORE_REDIS_URL=f"redis://:{password}@127.0.0.1:{port}/0")
    events = tmp_path / "seed.jsonl"
    events.write_bytes(jsonl(seed_hot_lead("pw-lead", datetime.now(UTC))))
    produced = run_cli("produce", str(events), env=worker.env)
    assert produced.returncode == 0, produced.stderr
    assert orjson.loads(wait_for_lead(worker, "pw-lead"))["scores"][0]["score"] == 85
    shown = run_cli("lead", "pw-lead", env=worker.env)
    assert shown.returncode == 0 and b'"score":85' in shown.stdout
    worker.stop()
    assert password not in worker.log_path.read_text()


def test_wrong_redis_password_stops_the_worker_with_one_clear_line(
    kafka_bootstrap: str, private_redis: tuple[int, str], unique: str
) -> None:
    port, password = private_redis
    wrong = "not-" + password
    for url in (f"redis://:{wrong}@127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/0"):
        env = worker_env(kafka_bootstrap, url, unique)
        result = run_cli("worker", env=env)
        err = result.stderr.decode()
        assert result.returncode == 2, err
        assert "LEADSCORE_REDIS_URL: Redis authentication failed" in err
        assert "Traceback" not in err and wrong not in err and password not in err


def test_bad_security_settings_are_refused_by_name_without_the_secret(
    kafka_bootstrap: str, redis_url: str, unique: str
) -> None:
    secret = secrets.token_hex(12)
    env = worker_env(
        kafka_bootstrap,
        redis_url,
        unique,
        LEADSCORE_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        LEADSCORE_KAFKA_SASL_PASSWORD=secret,
    )
    result = run_cli("worker", env=env)
    err = result.stderr.decode()
    assert result.returncode == 2
    assert "LEADSCORE_KAFKA_SASL_USERNAME is needed" in err
    assert secret not in err and "Traceback" not in err


@pytest.fixture
def sasl_stack(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A private ``ops/stack`` with a SCRAM-SHA-256 listener: (bootstrap, user, password)."""
    password = secrets.token_hex(12)
    ports = {name: free_port() for name in ("kafka", "controller", "sasl", "redis")}
    env = {
        **os.environ,
        "LEADSCORE_STACK_DIR": str(tmp_path / "stack"),
        "LEADSCORE_KAFKA_PORT": str(ports["kafka"]),
        "LEADSCORE_KAFKA_CONTROLLER_PORT": str(ports["controller"]),
        "LEADSCORE_KAFKA_SASL_PORT": str(ports["sasl"]),
        "LEADSCORE_KAFKA_SASL_USERNAME": "leadscore",
        "LEADSCORE_KAFKA_SASL_PASSWORD": password,
        "LEADSCORE_REDIS_PORT": str(ports["redis"]),
        "LEADSCORE_KAFKA_HEAP": "256m",
    }
    try:
        up = subprocess.run([str(STACK), "up"], env=env, capture_output=True, text=True)
        assert up.returncode == 0, up.stderr
        assert password not in up.stdout + up.stderr
        yield f"127.0.0.1:{ports['sasl']}", "leadscore", password
    finally:
        subprocess.run([str(STACK), "down"], env=env, capture_output=True)


def test_worker_and_producer_over_sasl_scram(
    start_worker: StartWorker, sasl_stack: tuple[str, str, str], tmp_path: Path
) -> None:
    bootstrap, user, password = sasl_stack
    sasl = {
        "LEADSCORE_KAFKA_BOOTSTRAP": bootstrap,
        "LEADSCORE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "LEADSCORE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256",
        "LEADSCORE_KAFKA_SASL_USERNAME": user,
        "LEADSCORE_KAFKA_SASL_PASSWORD": password,
    }
    worker = start_worker(**sasl)
    events = tmp_path / "seed.jsonl"
    events.write_bytes(jsonl(seed_hot_lead("sasl-lead", datetime.now(UTC))))
    produced = run_cli("produce", str(events), env=worker.env)
    assert produced.returncode == 0, produced.stderr
    assert orjson.loads(wait_for_lead(worker, "sasl-lead"))["scores"][0]["score"] == 85
    alerts = run_cli("alerts", "--from-beginning", "--max", "1", "--timeout", "30", env=worker.env)
    assert b'"lead_id":"sasl-lead"' in alerts.stdout, alerts.stderr

    refused = run_cli(
        "produce", str(events), env={**worker.env, "LEADSCORE_KAFKA_SASL_PASSWORD": "wrong"}
    )
    assert refused.returncode != 0
    worker.stop()
    assert password not in worker.log_path.read_text()
