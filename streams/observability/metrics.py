"""Prometheus metrics of the worker.

Labels take values from small fixed sets (event types, reject reasons, alert kinds); lead ids,
emails and other personal data never appear in a label.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """One registry per worker, so tests and the benchmark can run several side by side."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_consumed = Counter(
            "leadscore_events_consumed", "Valid events consumed, by type.", ["type"], registry=r
        )
        self.events_rejected = Counter(
            "leadscore_events_rejected",
            "Messages sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.dedupe_hits = Counter(
            "leadscore_dedupe_hits", "Events already applied (redelivered or repeated).", registry=r
        )
        self.lead_reads = Counter(
            "leadscore_lead_reads",
            "Leads a batch needed, by where they came from: the worker's cache or Redis.",
            ["source"],
            registry=r,
        )
        self.state_conflicts = Counter(
            "leadscore_state_conflicts",
            "Lead writes retried because another writer changed the lead first.",
            registry=r,
        )
        self.transitions = Counter(
            "leadscore_transitions",
            "Hot alerts and coolings, by model; role is `shadow` for the shadow model's would-be "
            "ones (on leads.shadow), `active` for those sent to sales.",
            ["kind", "model", "role"],
            registry=r,
        )
        self.account_transitions = Counter(
            "leadscore_account_transitions",
            "Account alerts emitted to accounts.hot: turned hot, or cooled.",
            ["kind"],
            registry=r,
        )
        self.rewinds = Counter(
            "leadscore_rewinds",
            "Partitions sent back to their Redis checkpoint (after a Redis or worker crash).",
            registry=r,
        )
        self.batch_seconds = Histogram(
            "leadscore_batch_seconds",
            "Time to process one batch: decode, Redis, publish.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.event_to_alert_seconds = Histogram(
            "leadscore_event_to_alert_seconds",
            "From the tipping event's Kafka timestamp to the alert being acknowledged.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.redis_seconds = Histogram(
            "leadscore_redis_seconds",
            "Redis round trips, by operation.",
            ["op"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        # Operations (observability/lag.py): what Prometheus alerts on besides the counters above.
        self.consumer_lag = Gauge(
            "leadscore_consumer_lag",
            "Input records not yet committed by the worker group, by topic (same on every worker).",
            ["topic"],
            registry=r,
        )
        self.redis_errors = Counter(
            "leadscore_redis_errors", "Redis health probes that failed.", registry=r
        )
        self.explorer_clients = Gauge(
            "leadscore_explorer_clients", "Browsers following the live hot-lead feed.", registry=r
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
