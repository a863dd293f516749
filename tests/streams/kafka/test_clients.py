"""Security settings become client arguments (no services needed), and half-configured or
secret-leaking settings are refused."""

from __future__ import annotations

import ssl

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from pydantic import ValidationError

from streams.kafka.clients import (
    client_options,
    faust_options,
    kafka_admin,
    kafka_consumer,
    kafka_environment,
    kafka_producer,
)
from streams.settings import Settings

SECRET = "pa55-word-never-shown"


def settings(**values: object) -> Settings:
    """Settings from ``values`` alone: model_validate reads no environment variables."""
    return Settings.model_validate(values)


def test_plaintext_adds_nothing() -> None:
    plain = settings()
    assert client_options(plain) == {} and faust_options(plain) == {}


def test_sasl_plaintext_scram() -> None:
    sasl = settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="svc",
        kafka_sasl_password=SECRET,
    )
    assert client_options(sasl) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc",
        "sasl_plain_password": SECRET,
    }
    credentials = faust_options(sasl)["broker_credentials"]
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert (credentials.username, credentials.password) == ("svc", SECRET)
    assert SECRET not in repr(credentials) and SECRET not in repr(sasl)


def test_sasl_ssl_and_ssl_carry_a_tls_context() -> None:
    sasl_ssl = settings(
        kafka_security_protocol="SASL_SSL", kafka_sasl_username="u", kafka_sasl_password=SECRET
    )
    options = client_options(sasl_ssl)
    assert options["security_protocol"] == "SASL_SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    credentials = faust_options(sasl_ssl)["broker_credentials"]
    assert credentials.protocol.value == "SASL_SSL" and credentials.ssl_context is not None

    tls = settings(kafka_security_protocol="SSL")
    assert set(client_options(tls)) == {"security_protocol", "ssl_context"}
    assert isinstance(faust_options(tls)["broker_credentials"], SSLCredentials)


def test_a_missing_ca_file_fails_loudly() -> None:
    with pytest.raises((OSError, ssl.SSLError)):
        client_options(settings(kafka_security_protocol="SSL", kafka_ssl_cafile="/nonexistent"))


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_password": SECRET},
         "LEADSCORE_KAFKA_SASL_USERNAME is needed"),
        ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_username": "u"},
         "LEADSCORE_KAFKA_SASL_PASSWORD is needed"),
        ({"kafka_sasl_username": "u", "kafka_sasl_password": SECRET},
         "LEADSCORE_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
        ({"kafka_ssl_cafile": "/ca.pem"}, "LEADSCORE_KAFKA_SSL_CAFILE is set"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "/c.pem"},
         "LEADSCORE_KAFKA_SSL_CERTFILE and LEADSCORE_KAFKA_SSL_KEYFILE go together"),
        ({"api_token": "  "}, "LEADSCORE_API_TOKEN is empty"),
    ],
)  # fmt: skip
def test_incomplete_security_is_refused_by_name(values: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(**values)
    messages = " ".join(str(e["msg"]) for e in caught.value.errors())
    assert named in messages and SECRET not in messages


def test_secrets_stay_out_of_repr() -> None:
    shown = repr(settings(api_token=SECRET, redis_url=f"redis://:{SECRET}@127.0.0.1:6379/0"))
    assert SECRET not in shown and "api_token" in shown


def test_a_child_process_gets_the_same_cluster_and_security(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parent = settings(
        kafka_bootstrap="broker-1:9093,broker-2:9093",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="bench",
        kafka_sasl_password=SECRET,
    )
    env = kafka_environment(parent)
    assert not set(env) - {f"LEADSCORE_{n.upper()}" for n in Settings.model_fields}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    child = Settings()
    for name in Settings.model_fields:
        if name.startswith("kafka_"):
            assert getattr(child, name) == getattr(parent, name), name
    assert client_options(child).keys() == client_options(parent).keys()


async def test_the_factories_build_clients_of_the_configured_cluster() -> None:
    plain = settings(kafka_bootstrap="127.0.0.1:1")
    producer = kafka_producer(plain, acks="all")
    admin = kafka_admin(plain)
    consumer = kafka_consumer(plain, "leads.hot", group_id=None)
    assert producer.client._bootstrap_servers == "127.0.0.1:1"
    assert admin._client._bootstrap_servers == "127.0.0.1:1"
    assert consumer._client._bootstrap_servers == "127.0.0.1:1"
