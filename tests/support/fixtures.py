"""The suite's shared fixtures, registered by ``pytest_plugins`` in ``tests/conftest.py``.

Integration tests ask for ``kafka_bootstrap`` and ``redis_url``; the services behind them are
chosen in this order, so the same tests run on a laptop with Docker, on CI without it, and against
a stack the user already runs:

1. ``LEADSCORE_KAFKA_BOOTSTRAP`` / ``LEADSCORE_REDIS_URL`` when set;
2. testcontainers, when a Docker engine answers;
3. ``ops/stack up`` (Kafka from Maven jars, Debian's Redis), stopped again at the end only if this
   session was the one that started it.

Unit tests of pure code request none of these fixtures and so never start a service, and
:func:`hermetic_settings` keeps the caller's ``LEADSCORE_*`` variables away from them.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.paths import STACK
from tests.support.worker import WorkerProcess, free_port, remove_deployment, worker_env

# Tests that reach real services read their addresses (and ops/stack its ports) from LEADSCORE_*.
_NEEDS_ENVIRONMENT = ("integration", "faults")


def pytest_configure(config: pytest.Config) -> None:
    """Register every CLI command: the CLI imports command modules on demand, tests drive all."""
    from streams.cli import load_commands

    load_commands()


@pytest.fixture(autouse=True)
def hermetic_settings(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests see no ``LEADSCORE_*`` variable of the caller's shell, so ``Settings()`` in them
    means the defaults plus what the test itself sets."""
    if any(request.node.get_closest_marker(m) for m in _NEEDS_ENVIRONMENT):
        return
    for name in [n for n in os.environ if n.startswith("LEADSCORE_")]:
        monkeypatch.delenv(name)


@dataclass(frozen=True)
class Services:
    kafka_bootstrap: str
    redis_url: str
    source: str


def _docker_reachable() -> bool:
    if os.environ.get("LEADSCORE_TEST_NO_DOCKER"):
        return False
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def _stack_env() -> dict[str, str]:
    out = subprocess.run([str(STACK), "env"], check=True, capture_output=True, text=True).stdout
    pairs = (line.removeprefix("export ").split("=", 1) for line in out.splitlines() if "=" in line)
    return {key: value for key, value in pairs}


@pytest.fixture(scope="session")
def services() -> Iterator[Services]:
    kafka = os.environ.get("LEADSCORE_KAFKA_BOOTSTRAP")
    redis = os.environ.get("LEADSCORE_REDIS_URL")
    if kafka and redis:
        yield Services(kafka, redis, "environment")
        return
    if _docker_reachable():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.redis import RedisContainer

        with KafkaContainer().with_kraft() as k, RedisContainer() as r:
            host, port = r.get_container_host_ip(), r.get_exposed_port(6379)
            yield Services(k.get_bootstrap_server(), f"redis://{host}:{port}/0", "testcontainers")
        return
    already_up = subprocess.run([str(STACK), "status"], capture_output=True).returncode == 0
    subprocess.run([str(STACK), "up"], check=True)
    env = _stack_env()
    try:
        yield Services(env["LEADSCORE_KAFKA_BOOTSTRAP"], env["LEADSCORE_REDIS_URL"], "ops/stack")
    finally:
        if not already_up:
            subprocess.run([str(STACK), "down"], check=False)


@pytest.fixture(scope="session")
def kafka_bootstrap(services: Services) -> str:
    return services.kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url(services: Services) -> str:
    return services.redis_url


@pytest.fixture
def unique() -> str:
    """A short random token, so tests sharing one broker and Redis never see each other's data."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def start_worker(
    kafka_bootstrap: str, redis_url: str, unique: str, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real ``leadscore worker`` processes on private topics and keys; all are stopped after.

    Call it with extra ``LEADSCORE_*`` settings as keyword arguments; workers started by one test
    share its topics and keys, as workers of one deployment do.
    """
    started: list[WorkerProcess] = []
    base = worker_env(kafka_bootstrap, redis_url, unique)

    def start(ready: bool = True, **settings: str) -> WorkerProcess:
        env = {**base, **settings}
        if started and "LEADSCORE_WEB_PORT" not in settings:
            env["LEADSCORE_WEB_PORT"] = str(free_port())  # each further worker needs its own
        worker = WorkerProcess(env, tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
    if started:
        # topics (also Faust's own, named after the app id) and keys all start with t-<unique>
        asyncio.run(remove_deployment(kafka_bootstrap, redis_url, f"t-{unique}"))
