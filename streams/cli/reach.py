"""Kafka and Redis, or one line and exit status 2: what did not answer, where, and what to check.

Every command that talks to a service wraps its work in :func:`services`. It first makes one cheap,
bounded call to each service the command needs, so a service that is down, a wrong address or a
wrong TLS CA is reported before any work starts (rather than after redis-py's retries, or as
aiokafka's traceback); then it turns a connection lost during the work into the same kind of line.
The worker does the same at start-up only: once running, it rides out outages by itself.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import typer
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, NodeNotReadyError
from redis import asyncio as aioredis
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from streams.errors import Unreachable
from streams.kafka.clients import kafka_admin, ssl_context
from streams.settings import Settings, redis_nodes

PROBE_SECONDS = 10.0  # the first call's bound: longer means a black hole, not a slow service
KAFKA_CHECK = "LEADSCORE_KAFKA_BOOTSTRAP, that Kafka runs there (ops/stack status)"
REDIS_CHECK = "LEADSCORE_REDIS_URL, that Redis runs there (ops/stack status)"


def redis_address(url: str) -> str:
    """Where a Redis URL points, as ``host:port/db``; the password it may hold is left out.

    A cluster's several node URLs give each node's address, comma-separated.
    """
    return ", ".join(_node_address(node) for node in redis_nodes(url))


def _node_address(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    db = parts.path.strip("/") or "0"
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{db}"


def _why(exc: BaseException) -> str:
    """The cause in a few words: the deepest message, without aiokafka's or asyncio's wrapping."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: certificate verify failed, {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | RedisTimeoutError | KafkaTimeoutError):
        return "no answer in time"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and cause is not exc:
        return _why(cause)
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _kafka_check(settings: Settings) -> str:
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        return f"{KAFKA_CHECK}, LEADSCORE_KAFKA_SECURITY_PROTOCOL and LEADSCORE_KAFKA_SSL_CAFILE"
    if settings.kafka_security_protocol != "PLAINTEXT":
        return f"{KAFKA_CHECK} and LEADSCORE_KAFKA_SECURITY_PROTOCOL"
    return KAFKA_CHECK


def _redis_check(url: str) -> str:
    if url.startswith("rediss:"):
        return f"{REDIS_CHECK} and the CA the URL names (?ssl_ca_certs=FILE)"
    return REDIS_CHECK


async def _connect_reason(settings: Settings) -> str | None:
    """Why a plain (or TLS) connection to the first bootstrap server fails, if it does.

    aiokafka logs the cause (refused, a certificate it rejects) and then raises only that it
    could not bootstrap; this one connection recovers the reason an operator can act on.
    """
    host, _, port = settings.kafka_bootstrap.split(",")[0].strip().rpartition(":")
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port), ssl=ssl_context(settings)),
            PROBE_SECONDS,
        )
    except (OSError, TimeoutError) as exc:
        return _why(exc)
    writer.close()
    return None


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Keep a library's own error lines off the terminal: the one line says it all."""
    log = logging.getLogger(logger)
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


async def probe_kafka(settings: Settings) -> None:
    """Raise :class:`Unreachable` unless Kafka answers a metadata request within the bound."""
    admin = kafka_admin(settings, request_timeout_ms=int(PROBE_SECONDS * 1000))
    with _quiet("aiokafka"):
        try:
            await asyncio.wait_for(admin.start(), PROBE_SECONDS)
        except (KafkaConnectionError, NodeNotReadyError, OSError, TimeoutError) as exc:
            why = await _connect_reason(settings) or _why(exc)
            check = _kafka_check(settings)
            raise Unreachable("Kafka", settings.kafka_bootstrap, why, check) from exc
        finally:
            await admin.close()


async def probe_redis(settings: Settings) -> None:
    """Raise :class:`Unreachable` unless Redis answers PING within the bound, without retries.

    Of a cluster's several nodes one answering is enough: the client starts from it.
    """
    nodes = redis_nodes(settings.redis_url)
    for n, url in enumerate(nodes):
        try:
            await _probe_node(url, redis_address(settings.redis_url))
            return
        except Unreachable:
            if n == len(nodes) - 1:
                raise


async def _probe_node(url: str, where: str) -> None:
    """PING one node; an error names ``where`` (every node the setting holds)."""
    client = aioredis.Redis.from_url(
        url, socket_connect_timeout=PROBE_SECONDS, socket_timeout=PROBE_SECONDS
    )
    try:
        await client.ping()
    except AuthenticationError as exc:  # never the URL: it holds the password
        check = "the password in LEADSCORE_REDIS_URL (redis://:PASSWORD@host:port/db)"
        raise Unreachable("Redis", where, str(exc), check, "refused the credentials") from None
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        raise Unreachable("Redis", where, _why(exc), _redis_check(url)) from None
    finally:
        await client.aclose()


def _fail(command: str, error: Unreachable) -> typer.Exit:
    typer.echo(f"leadscore {command}: {error}", err=True)
    return typer.Exit(2)


def require(settings: Settings, command: str, *, kafka: bool = False, redis: bool = False) -> None:
    """Probe the services a command needs; the first that does not answer: its line, exit 2."""

    async def probe() -> None:
        if kafka:
            await probe_kafka(settings)
        if redis:
            await probe_redis(settings)

    try:
        asyncio.run(probe())
    except Unreachable as error:
        raise _fail(command, error) from None


@contextmanager
def services(
    settings: Settings, command: str, *, kafka: bool = False, redis: bool = False
) -> Iterator[None]:
    """:func:`require` the services, then report one lost during the body the same way.

    ``command`` is how the line begins (``leadscore produce: Kafka at ...``).
    """
    require(settings, command, kafka=kafka, redis=redis)
    try:
        yield
    except Unreachable as error:
        raise _fail(command, error) from None
    except (KafkaConnectionError, NodeNotReadyError, KafkaTimeoutError) as exc:
        lost = Unreachable("Kafka", settings.kafka_bootstrap, _why(exc), _kafka_check(settings))
        raise _fail(command, lost) from None
    except (RedisConnectionError, RedisTimeoutError) as exc:
        where = redis_address(settings.redis_url)
        lost = Unreachable("Redis", where, _why(exc), _redis_check(settings.redis_url))
        raise _fail(command, lost) from None
