"""Prometheus metrics of the webhook sink, and the small HTTP server that exposes them.

The sink runs as its own process, apart from the worker, so it serves its own ``/metrics`` and
``/healthz``: Prometheus can then alert on a sink that dead-letters or retries, and a supervisor
(systemd, Docker, Kubernetes) can restart one that stopped polling. Labels are reasons from a small
fixed set; alert and lead ids never appear in one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_DELIVERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
PROMETHEUS_TEXT = "text/plain; version=0.0.4"


class SinkMetrics:
    """One registry per sink, so tests can run several side by side."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.delivered = Counter(
            "leadscore_sink_delivered", "Alerts the webhook accepted (2xx).", registry=r
        )
        self.retried = Counter(
            "leadscore_sink_retried",
            "Delivery attempts that failed and were tried again after a backoff.",
            registry=r,
        )
        self.failed = Counter(
            "leadscore_sink_failed",
            "Alerts whose delivery was given up, then dead-lettered: every attempt failed "
            "(webhook-failed) or the webhook refused the alert outright (webhook-rejected).",
            ["reason"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "leadscore_sink_dead_lettered",
            "Records parked on the dead-letter topic, by reason: the failed deliveries, and "
            "records that are not alerts (invalid-alert).",
            ["reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "leadscore_sink_duplicates", "Alerts skipped: they were already sent.", registry=r
        )
        self.delivery_seconds = Histogram(
            "leadscore_sink_delivery_seconds",
            "From the first attempt to the webhook's 2xx, retries and backoff included.",
            buckets=_DELIVERY_BUCKETS,
            registry=r,
        )
        self.last_poll = Gauge(
            "leadscore_sink_last_poll_timestamp_seconds",
            "When the sink last asked Kafka for alerts (Unix time).",
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class Liveness:
    """What ``/healthz`` reports: set by the sink's loop, read by the HTTP server."""

    stall_after: float  # seconds without a poll after which the sink counts as stuck
    started: bool = False
    stopping: bool = False
    assigned: int = 0
    last_poll: float = 0.0  # time.monotonic() of the last poll

    def polled(self, assigned: int) -> None:
        self.started, self.assigned, self.last_poll = True, assigned, time.monotonic()

    def report(self) -> tuple[int, dict[str, object]]:
        """The status code and body of ``/healthz``."""
        if self.stopping:
            return 503, {"status": "stopping"}
        if not self.started:
            return 503, {"status": "starting"}
        quiet = time.monotonic() - self.last_poll
        if quiet > self.stall_after:
            return 503, {"status": "stalled", "seconds_since_poll": round(quiet)}
        return 200, {"status": "ok", "assigned_partitions": self.assigned}


async def serve(metrics: SinkMetrics, liveness: Liveness, host: str, port: int) -> web.AppRunner:
    """Start ``/metrics`` and ``/healthz`` on ``host:port``; the caller cleans the runner up."""

    async def metrics_view(request: web.Request) -> web.Response:
        return web.Response(body=metrics.exposition(), content_type=PROMETHEUS_TEXT)

    async def health_view(request: web.Request) -> web.Response:
        status, body = liveness.report()
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")

    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", health_view)
    runner = web.AppRunner(app, access_log=None)  # no access log: nothing to leak, nothing to fill
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
