"""Real TLS: a private ``ops/stack`` with Kafka's SSL and SASL_SSL listeners and Redis's TLS port,
certificates from a CA made for this run; the worker, the CLI and the sink connect through it, and
a client that trusts another CA stops with one line that names the TLS failure and what to check.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from tests.support.http import wait_for_lead
from tests.support.paths import STACK
from tests.support.seeds import seed_hot_lead
from tests.support.tls import Authority, make_authority
from tests.support.worker import WorkerProcess, free_port, jsonl, run_cli, worker_env

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class TlsStack:
    ssl: str  # bootstrap of the SSL listener
    sasl_ssl: str  # bootstrap of the SASL_SSL listener
    redis_tls_port: int
    password: str
    authority: Authority
    stranger: Authority  # a CA that signed nothing here

    def redis_url(self, ca: Path) -> str:
        return f"rediss://127.0.0.1:{self.redis_tls_port}/0?ssl_ca_certs={ca}"

    def kafka_env(self, ca: Path, sasl: bool = False) -> dict[str, str]:
        env = {
            "LEADSCORE_KAFKA_BOOTSTRAP": self.sasl_ssl if sasl else self.ssl,
            "LEADSCORE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL" if sasl else "SSL",
            "LEADSCORE_KAFKA_SSL_CAFILE": str(ca),
        }
        if sasl:
            env.update(
                LEADSCORE_KAFKA_SASL_MECHANISM="SCRAM-SHA-256",
                LEADSCORE_KAFKA_SASL_USERNAME="leadscore",
                LEADSCORE_KAFKA_SASL_PASSWORD=self.password,
            )
        return env


@pytest.fixture(scope="module")
def tls_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsStack]:
    root = tmp_path_factory.mktemp("tls")
    authority = make_authority(root / "ca", "leadscore test CA", with_server=True)
    stranger = make_authority(root / "stranger", "some other CA")
    password = secrets.token_hex(12)
    ports = {n: free_port() for n in ("kafka", "ctl", "ssl", "sasl_ssl", "redis", "redis_tls")}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")},
        "LEADSCORE_STACK_DIR": str(root / "stack"),
        "LEADSCORE_KAFKA_PORT": str(ports["kafka"]),
        "LEADSCORE_KAFKA_CONTROLLER_PORT": str(ports["ctl"]),
        "LEADSCORE_KAFKA_SSL_PORT": str(ports["ssl"]),
        "LEADSCORE_KAFKA_SASL_SSL_PORT": str(ports["sasl_ssl"]),
        "LEADSCORE_KAFKA_SASL_PASSWORD": password,
        "LEADSCORE_REDIS_PORT": str(ports["redis"]),
        "LEADSCORE_REDIS_TLS_PORT": str(ports["redis_tls"]),
        "LEADSCORE_TLS_DIR": str(authority.dir),
        "LEADSCORE_KAFKA_HEAP": "256m",
    }
    try:
        up = subprocess.run([str(STACK), "up"], env=env, capture_output=True, text=True)
        assert up.returncode == 0, up.stderr
        assert password not in up.stdout + up.stderr
        yield TlsStack(
            f"127.0.0.1:{ports['ssl']}",
            f"127.0.0.1:{ports['sasl_ssl']}",
            ports["redis_tls"],
            password,
            authority,
            stranger,
        )
    finally:
        subprocess.run([str(STACK), "down"], env=env, capture_output=True)


def test_worker_cli_and_sink_over_kafka_ssl_and_redis_tls(
    tls_stack: TlsStack, start_worker: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    ca = tls_stack.authority.ca
    worker = start_worker(LEADSCORE_REDIS_URL=tls_stack.redis_url(ca), **tls_stack.kafka_env(ca))
    events = tmp_path / "seed.jsonl"
    events.write_bytes(jsonl(seed_hot_lead("tls-lead", datetime.now(UTC))))
    produced = run_cli("produce", str(events), env=worker.env)
    assert produced.returncode == 0, produced.stderr
    assert orjson.loads(wait_for_lead(worker, "tls-lead"))["scores"][0]["score"] == 85
    shown = run_cli("lead", "tls-lead", env=worker.env)  # Redis over TLS from the CLI
    assert shown.returncode == 0 and b'"score":85' in shown.stdout, shown.stderr
    alerts = run_cli("alerts", "--from-beginning", "--max", "1", "--timeout", "30", env=worker.env)
    assert b'"lead_id":"tls-lead"' in alerts.stdout, alerts.stderr
    asyncio.run(_sink_delivers(worker.env))


async def _sink_delivers(env: dict[str, str]) -> None:
    """The sink reads the alert over SSL, claims it in Redis over TLS, and posts it."""
    from aiohttp import web

    from streams.settings import Settings
    from streams.sinks.webhook import SinkOptions, WebhookSink

    posted = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        posted.set()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fields = {
        k.removeprefix("LEADSCORE_").lower(): v
        for k, v in env.items()
        if k.startswith("LEADSCORE_")
    }
    sink = WebhookSink(Settings(**fields), SinkOptions(url=f"http://127.0.0.1:{port}/hook"))
    stop = asyncio.Event()
    task = asyncio.create_task(sink.run(stop))
    try:
        await asyncio.wait_for(posted.wait(), 60)
    finally:
        stop.set()
        await task
        await runner.cleanup()
    assert sink.delivered == 1


def test_cli_over_sasl_ssl(tls_stack: TlsStack, tmp_path: Path, unique: str) -> None:
    kafka = tls_stack.kafka_env(tls_stack.authority.ca, sasl=True)
    env = {**worker_env("unused:1", "redis://unused:1/0", unique), **kafka}
    events = tmp_path / "seed.jsonl"
    events.write_bytes(jsonl(seed_hot_lead("sasl-ssl-lead", datetime.now(UTC))))
    produced = run_cli("produce", str(events), env=env)
    assert produced.returncode == 0, produced.stderr
    assert b"published 8 events" in produced.stderr


@pytest.mark.parametrize("service", ["kafka", "redis"])
def test_a_wrong_ca_stops_a_command_with_one_clear_line(
    tls_stack: TlsStack, service: str, unique: str
) -> None:
    good, wrong = tls_stack.authority.ca, tls_stack.stranger.ca
    kafka_ca, redis_ca = (wrong, good) if service == "kafka" else (good, wrong)
    env = {
        **worker_env("unused:1", tls_stack.redis_url(redis_ca), unique),
        **tls_stack.kafka_env(kafka_ca),
    }
    sink = ["sink", "webhook", "--url", "http://127.0.0.1:9/hook", "--http-port", "0"]
    for command in (["worker"], ["rebuild"], sink):  # each needs both
        result = run_cli(*command, env=env)
        err = result.stderr.decode()
        assert result.returncode == 2, err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert "TLS: certificate verify failed" in err, err
        if service == "kafka":
            assert f"Kafka at {tls_stack.ssl} did not answer" in err
            assert "LEADSCORE_KAFKA_SSL_CAFILE" in err
        else:
            assert f"Redis at 127.0.0.1:{tls_stack.redis_tls_port}/0 did not answer" in err
            assert "ssl_ca_certs" in err
