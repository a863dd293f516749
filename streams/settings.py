"""Every setting of the worker and the CLI, read from ``LEADSCORE_*`` environment variables.

Each field is documented here, where it is declared; a test checks docs/configuration.md against
this class, so the two cannot drift apart.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from scoring.events import EventType
from scoring.model import check_track_table


class TopicNames:
    """The Kafka topics, prefixed; a value object so code never spells a topic name twice."""

    __slots__ = (
        "accounts",
        "accounts_hot",
        "activity",
        "analytics",
        "dlq",
        "emails",
        "hot",
        "identity",
        "page_views",
        "profiles",
        "scores",
        "shadow",
        "webinars",
    )

    def __init__(self, prefix: str) -> None:
        self.page_views = f"{prefix}engagement.page-views"
        self.webinars = f"{prefix}engagement.webinars"
        self.emails = f"{prefix}engagement.emails"
        self.activity = f"{prefix}engagement.activity"
        self.profiles = f"{prefix}leads.profiles"
        # Calls of the common analytics spec, one per message (scoring.analytics), from a tool's
        # own Kafka destination; POST /v1/batch maps them itself and publishes events instead.
        self.analytics = f"{prefix}engagement.analytics"
        self.hot = f"{prefix}leads.hot"
        self.scores = f"{prefix}leads.scores"
        self.dlq = f"{prefix}leadscore.dlq"
        # A shadow model's would-be hot alerts and coolings, never read by sales
        # (LEADSCORE_SHADOW_MODEL, docs/model-changes.md).
        self.shadow = f"{prefix}leads.shadow"
        # Internal, keyed by anonymous id or by lead: identity links and touches between the
        # worker's two sides (streams.worker.identity). Read by the worker like an input.
        self.identity = f"{prefix}leadscore.identity"
        # Internal, keyed by account id: each lead's summary as its account sees it, and its
        # departures (streams.worker.accounts). Read by the worker like an input.
        self.accounts = f"{prefix}leadscore.accounts"
        self.accounts_hot = f"{prefix}accounts.hot"

    @property
    def inputs(self) -> tuple[str, ...]:
        """The topics of leadscore's own events, in a fixed order (see :attr:`consumed`)."""
        return (self.page_views, self.webinars, self.emails, self.activity, self.profiles)

    @property
    def consumed(self) -> tuple[str, ...]:
        """Every topic the worker reads: the event topics, the analytics-spec calls, then the
        internal identity and account topics.

        Kept forever like the inputs: ``leadscore rebuild`` replays the calls, the links, the
        touches and the member summaries too.
        """
        return (*self.inputs, self.analytics, self.identity, self.accounts)

    @property
    def internal(self) -> tuple[str, ...]:
        """The consumed topics the worker itself writes to."""
        return (self.identity, self.accounts)

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.hot, self.scores, self.dlq, self.shadow, self.accounts_hot)


class Settings(BaseSettings):
    """Configuration of leadscore; immutable once read so every component sees the same values."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:19092", description="Kafka bootstrap servers, comma-separated host:port."
    )
    # Not a SecretStr because every Redis client takes the URL as a string; repr=False keeps a
    # password in it out of repr(settings) all the same.
    redis_url: str = Field(
        "redis://127.0.0.1:16379/0",
        repr=False,
        description="Redis URL for lead state: `redis://[:password@]host:port/db`, or `rediss://` "
        "for TLS. On a Redis Cluster, several nodes' URLs separated by commas: the client starts "
        "from the first that answers, so a worker still starts while one of them is down.",
    )
    model: str = Field(
        "",
        description="Model file(s), comma-separated; several are scored side by side. "
        "Empty: the bundled default model.",
    )
    shadow_model: str = Field(
        "",
        description="A candidate model file scored beside the active models on live traffic: its "
        "would-be hot alerts and coolings go to `leads.shadow`, never to `leads.hot`, and "
        '`leadscore_transitions_total` counts them under `role="shadow"`. Empty: none.',
    )
    model_watch_interval: float = Field(
        5.0,
        ge=0,
        description="Seconds between looks at the model files (LEADSCORE_MODEL, "
        "LEADSCORE_SHADOW_MODEL) for a change on disk, which the worker then reloads as on "
        "SIGHUP. 0: reload on SIGHUP only.",
    )
    app_id: str = Field(
        "leadscore", description="Faust application id; also the Kafka consumer group."
    )
    session_timeout: float = Field(
        10.0,
        ge=6.0,
        description="Seconds without a heartbeat before Kafka moves a worker's partitions to the "
        "others; how long a crashed worker's leads wait.",
    )
    stall_seconds: float = Field(
        30.0,
        gt=0,
        description="Seconds a batch, rewind or cooling step may keep failing before `/healthz` "
        "answers 503 `stalled`, so an orchestrator can act.",
    )
    topic_prefix: str = Field("", description="Prefix for every topic name, e.g. `staging.`.")
    topic_partitions: int = Field(
        8, ge=1, description="Partitions of the input topics when the worker creates them."
    )
    redis_cluster: bool = Field(
        False,
        description="LEADSCORE_REDIS_URL names nodes of a Redis Cluster (Redis 7+): use the "
        "cluster client, send each batch to every primary at once as one script call per "
        "primary, and keep checkpoints on each primary (docs/scale-out.md).",
    )
    redis_prefix: str = Field(
        "ls", description="Prefix of every Redis key, so several deployments can share one Redis."
    )
    web_host: str = Field("127.0.0.1", description="Address the HTTP API listens on.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the HTTP API and /metrics.")
    max_event_bytes: int = Field(
        64 * 1024, ge=256, description="Messages larger than this go to the dead-letter topic."
    )
    dead_letter_max_bytes: int = Field(
        1_000_000,
        ge=16 * 1024,
        le=1024 * 1024,  # the worker's producer takes requests of 1 MiB at least
        description="Largest dead letter, headers and key included; a larger original is cut down "
        "to fit, with its length and SHA-256 in headers. The worker also keeps below the "
        "dead-letter topic's `max.message.bytes`.",
    )
    batch_size: int = Field(
        500, ge=1, description="Most events the worker applies to Redis in one round trip."
    )
    batch_within: float = Field(
        0.02, gt=0, description="Seconds the worker waits to fill a batch before applying it."
    )
    cooling_interval: float = Field(
        1.0, gt=0, description="Seconds between scans for leads whose score decayed below re-arm."
    )
    rescore_on_start: bool = Field(
        True,
        description="At start, and when reloaded models take over, rescore every stored lead if "
        "the models (name or version) differ from those that last scored them, so a changed "
        "threshold is announced at once.",
    )
    history_length: int = Field(
        5, ge=0, description="Score changes kept per lead for `GET /leads/{id}` (0: none)."
    )
    anonymous_ttl_days: float = Field(
        90.0,
        gt=0,
        description="Days an anonymous visitor nobody identified is kept after its last event; "
        "a visitor identified as a lead is kept as long as the lead, since its events count "
        "toward the lead's score.",
    )
    lead_cache: int = Field(
        20_000,
        ge=0,
        description="Leads the worker keeps decoded in memory after writing them, so their next "
        "events skip reading Redis (about 4.5 KB each; 0: off).",
    )
    # zstd by measurement (docs/performance.md): the scores topic in 13% of its raw bytes, about
    # as small as gzip at a fifth of its CPU, with no measurable loss of worker throughput.
    output_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = Field(
        "zstd",
        description="Codec of the batches leadscore publishes: the worker's alerts, score changes "
        "and dead letters, and the events `leadscore produce` and `POST /events` send. Consumers "
        "of them need zstd support (Kafka 2.1+ clients); `gzip` is the codec every client reads.",
    )
    track_events: dict[str, str] = Field(
        default_factory=dict,
        description="Analytics-spec track event names mapped to event types, as a JSON object "
        '(`{"Trial Started": "product_usage"}`), on top of the model\'s `analytics.track` table, '
        "name by name.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the worker and the CLI."
    )
    log_format: Literal["json", "text"] = Field(
        "json",
        description="Log lines as JSON objects (for log shippers) or as readable `text`.",
    )

    api_token: SecretStr | None = Field(
        None,
        description="Bearer token `POST /events` and the lead reads require "
        "(`Authorization: Bearer ...`). Unset: the API is open.",
    )
    max_request_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest HTTP request body accepted; larger gets 413."
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="How clients talk to Kafka: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = Field(
        "SCRAM-SHA-256", description="SASL mechanism, with a SASL protocol."
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password.")
    kafka_ssl_cafile: str | None = Field(
        None, description="CA bundle that signed the brokers' certificates (default: the system's)."
    )
    kafka_ssl_certfile: str | None = Field(
        None, description="Client certificate, for brokers that require TLS client auth."
    )
    kafka_ssl_keyfile: str | None = Field(None, description="Key of the client certificate.")

    @field_validator("track_events")
    @classmethod
    def _track_types(cls, value: dict[str, str]) -> dict[str, str]:
        check_track_table(value)
        return value

    @cached_property
    def track_overrides(self) -> dict[str, EventType]:
        """``track_events`` with its values as event types."""
        return check_track_table(self.track_events)

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_has_port(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {server.strip()!r}")
        return value

    @model_validator(mode="after")
    def _security_is_complete(self) -> Settings:
        """Refuse half a configuration at start-up rather than failing at the first connection."""
        problems = []
        if self.kafka_security_protocol.startswith("SASL_"):
            if not self.kafka_sasl_username:
                problems.append("LEADSCORE_KAFKA_SASL_USERNAME is needed with a SASL protocol")
            if self.kafka_sasl_password is None:
                problems.append("LEADSCORE_KAFKA_SASL_PASSWORD is needed with a SASL protocol")
        elif self.kafka_sasl_username or self.kafka_sasl_password is not None:
            problems.append(
                "LEADSCORE_KAFKA_SASL_USERNAME/PASSWORD are set but "
                f"LEADSCORE_KAFKA_SECURITY_PROTOCOL is {self.kafka_security_protocol}; "
                "use SASL_PLAINTEXT or SASL_SSL"
            )
        uses_tls = self.kafka_security_protocol in ("SSL", "SASL_SSL")
        for name in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"):
            if getattr(self, name) and not uses_tls:
                problems.append(
                    f"LEADSCORE_{name.upper()} is set but LEADSCORE_KAFKA_SECURITY_PROTOCOL is "
                    f"{self.kafka_security_protocol}; use SSL or SASL_SSL"
                )
        if bool(self.kafka_ssl_certfile) != bool(self.kafka_ssl_keyfile):
            problems.append(
                "LEADSCORE_KAFKA_SSL_CERTFILE and LEADSCORE_KAFKA_SSL_KEYFILE go together"
            )
        if len(redis_nodes(self.redis_url)) > 1 and not self.redis_cluster:
            problems.append(
                "LEADSCORE_REDIS_URL names several nodes, which only a Redis Cluster takes; "
                "set LEADSCORE_REDIS_CLUSTER=true or name one Redis"
            )
        if self.api_token is not None and not self.api_token.get_secret_value().strip():
            problems.append("LEADSCORE_API_TOKEN is empty; unset it or give a token")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @cached_property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def heartbeat_interval(self) -> float:
        """Seconds between consumer heartbeats: several fit in one session timeout."""
        return max(self.session_timeout / 5, 1.0)

    @property
    def model_paths(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.model.split(",") if p.strip())


def redis_nodes(url: str) -> list[str]:
    """The node URLs ``LEADSCORE_REDIS_URL`` holds: one, or on a cluster several, comma-separated.

    Split only before a scheme, so a comma inside a password stays where it is.
    """
    return [part.strip() for part in re.split(r",(?=\s*rediss?://)", url) if part.strip()]
