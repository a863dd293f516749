"""Operational gauges the worker cannot read off its own work: consumer lag and Redis health.

Lag is measured the way an outside lag exporter would, from the broker: the end offset of every
input partition minus the offset the worker group last committed. That counts records a worker has
fetched but not yet applied, which Faust's in-memory positions would hide, and it covers partitions
no worker holds at the moment (during a rebalance, or when every worker is down but one). Every
worker reports the same totals, so dashboards and alerts take ``max`` over instances.

Redis is probed with a PING on the same timer; a failed probe counts in
``leadscore_redis_errors_total`` whatever the worker happens to be doing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from streams.kafka.clients import kafka_admin, kafka_consumer
from streams.observability.metrics import Metrics
from streams.settings import Settings

if TYPE_CHECKING:
    import faust

    from streams.worker.runtime import Runtime

log = logging.getLogger("leadscore.lag")

INTERVAL = 5.0  # seconds between probes; Prometheus scrapes every 5 s in the shipped config


def lag_by_topic(
    ends: Mapping[TopicPartition, int],
    starts: Mapping[TopicPartition, int],
    committed: Mapping[TopicPartition, int],
) -> dict[str, int]:
    """Records left per topic; a partition never committed counts from its first offset."""
    totals: dict[str, int] = {}
    for tp, end in ends.items():
        done = committed.get(tp, starts.get(tp, 0))
        totals[tp.topic] = totals.get(tp.topic, 0) + max(0, end - done)
    return totals


async def partitions(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> list[TopicPartition]:
    """Every partition of the topics that exist, asked of the broker each time (they can grow)."""
    described = await admin.describe_topics(list(topics))
    return [
        TopicPartition(topic["topic"], part["partition"])
        for topic in described
        if topic["error_code"] == 0
        for part in sorted(topic["partitions"], key=lambda p: int(p["partition"]))
    ]


class LagProbe:
    """Reads end offsets and the group's commits from Kafka; clients open on first use."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            admin = kafka_admin(self.settings)
            offsets = kafka_consumer(self.settings, enable_auto_commit=False)
            await admin.start()
            await offsets.start()
            self._admin, self._offsets = admin, offsets
        return self._admin, self._offsets

    async def measure(self) -> dict[str, int]:
        admin, offsets = await self._clients()
        tps = await partitions(admin, self.settings.topics.consumed)
        if not tps:
            return {}
        ends = await offsets.end_offsets(tps)
        starts = await offsets.beginning_offsets(tps)
        group = await admin.list_consumer_group_offsets(self.settings.app_id)
        committed = {tp: meta.offset for tp, meta in group.items() if meta.offset >= 0}
        return lag_by_topic(ends, starts, committed)

    async def update(self) -> None:
        try:
            for topic, lag in (await self.measure()).items():
                self.metrics.consumer_lag.labels(topic).set(lag)
        except (TimeoutError, KafkaError, OSError) as exc:
            log.warning("consumer lag probe failed (%s)", type(exc).__name__)

    async def close(self) -> None:
        if self._offsets is not None:
            await self._offsets.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._offsets = None


async def probe_redis(runtime: Runtime) -> None:
    try:
        await runtime.store.client.ping()
    except Exception as exc:  # any failure to answer is what the counter is for
        runtime.metrics.redis_errors.inc()
        log.warning("Redis health probe failed (%s)", type(exc).__name__)


def register_monitor(app: faust.App, runtime: Runtime) -> LagProbe:
    """Add the probe timer to the worker and close its clients when the worker stops."""
    probe = LagProbe(runtime.settings, runtime.metrics)

    @app.timer(INTERVAL, name="operations-probe")  # type: ignore[untyped-decorator]
    async def operations_probe() -> None:
        await probe_redis(runtime)
        await probe.update()

    async def close_probe(sender: Any, *args: Any, **kwargs: Any) -> None:
        await probe.close()

    app.on_before_shutdown.connect(close_probe)  # type: ignore[arg-type]  # stub wants a union

    return probe
