"""Every command that needs Kafka or Redis says in one line which one did not answer, and where.

Each command runs as the console script against a port where nothing listens (bound, never
listening, so the kernel refuses the connection at once): no traceback, the address and the
variable to check named, exit status 2. With the service it needs first up (the real one),
the command reaches the next and names that one instead.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.worker import jsonl, run_cli, worker_env

EVENT = {
    "event_id": "e-1",
    "lead_id": "lead-1",
    "type": "page_view",
    "occurred_at": "2026-01-05T10:00:00Z",
    "properties": {"path": "/pricing"},
}

# Arguments that get each command past its own checks and to its first network call.
KAFKA_COMMANDS = {
    "produce": ["produce", "-"],
    "alerts": ["alerts", "--max", "1"],
    "rebuild": ["rebuild"],
    "bench": ["bench", "--events", "10", "--leads", "2", "--seconds", "1"],
    "demo": ["demo", "--seconds", "1"],
    "worker": ["worker"],
    "sink": ["sink", "webhook", "--url", "http://127.0.0.1:9/hook"],
}
REDIS_COMMANDS = {"lead": ["lead", "lead-1"], "account": ["account", "acct-1"]}
BOTH = ("rebuild", "bench", "worker", "sink")  # these need Redis too


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _assert_one_line(result_stderr: bytes, service: str, where: str, variable: str) -> None:
    err = result_stderr.decode()
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    line = lines[0]
    assert f"{service} at {where} did not answer" in line, line
    assert variable in line, line


@pytest.mark.parametrize("name", sorted(KAFKA_COMMANDS))
def test_kafka_down(name: str, closed_port: int, tmp_path: Path) -> None:
    env = worker_env(f"127.0.0.1:{closed_port}", "redis://127.0.0.1:1/0", "down")
    result = run_cli(*KAFKA_COMMANDS[name], env=env, stdin=jsonl([EVENT]))
    assert result.returncode == 2, result.stderr.decode()
    _assert_one_line(
        result.stderr, "Kafka", f"127.0.0.1:{closed_port}", "LEADSCORE_KAFKA_BOOTSTRAP"
    )


@pytest.mark.parametrize("name", sorted(REDIS_COMMANDS))
def test_redis_down(name: str, closed_port: int) -> None:
    env = worker_env("127.0.0.1:1", f"redis://:hunter2@127.0.0.1:{closed_port}/3", "down")
    result = run_cli(*REDIS_COMMANDS[name], env=env)
    assert result.returncode == 2, result.stderr.decode()
    _assert_one_line(result.stderr, "Redis", f"127.0.0.1:{closed_port}/3", "LEADSCORE_REDIS_URL")
    assert b"hunter2" not in result.stderr  # the URL's password is never shown


def test_redis_cluster_nodes_all_down(closed_port: int) -> None:
    nodes = f"redis://:hunter2@127.0.0.1:{closed_port}/0,redis://:hunter2@127.0.0.1:1/0"
    env = worker_env("127.0.0.1:1", nodes, "down", LEADSCORE_REDIS_CLUSTER="true")
    result = run_cli(*REDIS_COMMANDS["lead"], env=env)
    assert result.returncode == 2, result.stderr.decode()
    where = f"127.0.0.1:{closed_port}/0, 127.0.0.1:1/0"  # every node it tried
    _assert_one_line(result.stderr, "Redis", where, "LEADSCORE_REDIS_URL")
    assert b"hunter2" not in result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("name", BOTH)
def test_redis_down_behind_a_live_kafka(name: str, closed_port: int, kafka_bootstrap: str) -> None:
    env = worker_env(kafka_bootstrap, f"redis://127.0.0.1:{closed_port}/0", "down")
    result = run_cli(*KAFKA_COMMANDS[name], env=env)
    assert result.returncode == 2, result.stderr.decode()
    _assert_one_line(result.stderr, "Redis", f"127.0.0.1:{closed_port}/0", "LEADSCORE_REDIS_URL")


def test_the_line_names_the_command(closed_port: int) -> None:
    env = worker_env(f"127.0.0.1:{closed_port}", "redis://127.0.0.1:1/0", "down")
    result = run_cli("alerts", env=env)
    assert result.stderr.decode().startswith("leadscore alerts: Kafka at ")
