"""ops/stack keeps its promises: `up` is idempotent, `down` stops only what `up` started.

The test runs a second, private stack (own ports and data dir) so the suite's shared services stay
up.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from streams.bench.proc import free_port
from tests.support.cluster import cluster_port_block
from tests.support.paths import STACK

pytestmark = pytest.mark.integration


def _pid(path: Path) -> int:
    return int(path.read_text().strip())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_up_twice_then_down(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LEADSCORE_STACK_DIR": str(tmp_path / "stack"),
        "LEADSCORE_KAFKA_PORT": "29092",
        "LEADSCORE_KAFKA_CONTROLLER_PORT": "29093",
        "LEADSCORE_REDIS_PORT": "26379",
        # small on purpose: with Kafka's default 128 MB log-cleaner buffer a broker this size dies
        # of OutOfMemoryError at start-up (and one of 256 MB sometimes did)
        "LEADSCORE_KAFKA_HEAP": "128m",
    }

    def stack(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(STACK), *args], env=env, capture_output=True, text=True)

    kafka_pidfile = tmp_path / "stack" / "kafka" / "kafka.pid"
    redis_pidfile = tmp_path / "stack" / "redis" / "redis.pid"
    try:
        first = stack("up")
        assert first.returncode == 0, first.stderr
        assert "127.0.0.1:29092" in first.stdout and "redis://127.0.0.1:26379/0" in first.stdout
        pids = (_pid(kafka_pidfile), _pid(redis_pidfile))

        second = stack("up")
        assert second.returncode == 0, second.stderr
        assert (_pid(kafka_pidfile), _pid(redis_pidfile)) == pids, (
            "a second `up` started new services"
        )
        assert "starting" not in second.stderr
        assert stack("status").returncode == 0
    finally:
        down = stack("down")
    assert down.returncode == 0, down.stderr
    assert not any(_alive(pid) for pid in pids)
    status = stack("status")
    assert status.returncode == 1
    assert "kafka: stopped" in status.stdout and "redis: stopped" in status.stdout


def test_failure_names_the_busy_port(tmp_path: Path, redis_url: str) -> None:
    busy_port = redis_url.rsplit(":", 1)[1].split("/")[0]
    env = {
        **os.environ,
        "LEADSCORE_STACK_DIR": str(tmp_path / "stack"),
        "LEADSCORE_REDIS_PORT": busy_port,
    }
    result = subprocess.run([str(STACK), "up"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"port {busy_port} is taken" in result.stderr


def test_up_runs_a_cluster_with_replicas(tmp_path: Path) -> None:
    first = cluster_port_block(6)
    env = {
        **os.environ,
        "LEADSCORE_STACK_DIR": str(tmp_path / "stack"),
        "LEADSCORE_KAFKA_PORT": str(free_port()),
        "LEADSCORE_KAFKA_CONTROLLER_PORT": str(free_port()),
        "LEADSCORE_REDIS_PORT": str(free_port()),
        "LEADSCORE_KAFKA_HEAP": "128m",
        "LEADSCORE_REDIS_CLUSTER_NODES": "3",
        "LEADSCORE_REDIS_CLUSTER_REPLICAS": "1",
        "LEADSCORE_REDIS_CLUSTER_PORT": str(first),
    }

    def stack(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(STACK), *args], env=env, capture_output=True, text=True)

    try:
        up = stack("up")
        assert up.returncode == 0, up.stderr
        nodes = subprocess.run(
            ["redis-cli", "-p", str(first), "cluster", "nodes"], capture_output=True, text=True
        ).stdout.splitlines()
        roles = sorted(line.split()[2].replace("myself,", "") for line in nodes)
        assert roles == ["master"] * 3 + ["slave"] * 3
        every_node = ",".join(f"redis://127.0.0.1:{first + n}/0" for n in range(6))
        assert f"export LEADSCORE_REDIS_URL={every_node}\n" in stack("env").stdout
        assert "export LEADSCORE_REDIS_CLUSTER=true" in stack("env").stdout
        assert stack("status").returncode == 0
        # a node killed comes back on its data and rejoins: how the fault tests restart one
        pidfile = tmp_path / "stack" / "redis-cluster" / str(first + 1) / "redis.pid"
        os.kill(_pid(pidfile), 9)
        again = stack("up")
        assert again.returncode == 0, again.stderr
        assert "joining" not in again.stderr
        assert stack("status").returncode == 0
    finally:
        down = stack("down")
    assert down.returncode == 0, down.stderr
    assert not list((tmp_path / "stack" / "redis-cluster").glob("*/redis.pid"))
