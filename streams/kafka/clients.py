"""The one Kafka client factory of leadscore: every client connects and authenticates the same way.

The worker, the CLI, the sink, the explorer and the benchmark build their aiokafka clients with
:func:`kafka_consumer`, :func:`kafka_producer` and :func:`kafka_admin`, so none of them can miss the
bootstrap servers or the security settings (a benchmark that could not reach a SASL cluster once
did).

- :func:`client_options` gives the security keyword arguments the factories spread into aiokafka's
  constructors.
- :func:`faust_options` gives keyword arguments for :class:`faust.App`, which builds its own
  aiokafka clients from ``broker_credentials``.

Both return nothing extra for ``PLAINTEXT``, so an unsecured deployment builds its clients exactly
as before.
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context
from faust.auth import SASLCredentials, SSLCredentials
from pydantic import SecretStr

from streams.settings import Settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A TLS context for SSL and SASL_SSL (system CAs unless a CA file is given), else None."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
    )
    return context


def client_options(settings: Settings) -> dict[str, Any]:
    """aiokafka keyword arguments for the configured security protocol (empty for PLAINTEXT)."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if protocol.startswith("SASL_"):
        password = settings.kafka_sasl_password
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=password.get_secret_value() if password is not None else None,
        )
    return options


def kafka_environment(settings: Settings) -> dict[str, str]:
    """The ``LEADSCORE_*`` variables that give a child process this cluster and its security.

    For the processes the benchmark starts (the worker, the bare Faust app): they read their
    settings from the environment, and must reach the cluster exactly as the parent does.
    """
    env: dict[str, str] = {}
    for name in Settings.model_fields:
        if not name.startswith("kafka_"):
            continue
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"LEADSCORE_{name.upper()}"] = str(value)
    return env


def kafka_consumer(settings: Settings, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer of the configured cluster (subscribed to ``topics``, if any)."""
    return AIOKafkaConsumer(
        *topics, bootstrap_servers=settings.kafka_bootstrap, **client_options(settings), **options
    )


def kafka_producer(settings: Settings, **options: Any) -> AIOKafkaProducer:
    """A producer to the configured cluster."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, **client_options(settings), **options
    )


def kafka_admin(settings: Settings, **options: Any) -> AIOKafkaAdminClient:
    """An admin client of the configured cluster."""
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, **client_options(settings), **options
    )


def faust_options(settings: Settings) -> dict[str, Any]:
    """:class:`faust.App` keyword arguments for the configured security protocol.

    Faust derives the protocol from the credentials' type: SASL credentials with a TLS context
    mean SASL_SSL, without one SASL_PLAINTEXT.
    """
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    context = ssl_context(settings)
    if protocol == "SSL":
        assert context is not None
        return {"broker_credentials": SSLCredentials(context)}
    password = settings.kafka_sasl_password
    credentials = SASLCredentials(
        username=settings.kafka_sasl_username,
        password=password.get_secret_value() if password is not None else None,
        ssl_context=context,
        mechanism=settings.kafka_sasl_mechanism,
    )
    return {"broker_credentials": credentials}
