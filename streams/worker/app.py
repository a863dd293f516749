"""The Faust application: the scoring consumer, a cooling timer, and the HTTP API.

Faust owns the worker's lifecycle, web server and timers. The input topics are read a batch at a
time by :class:`~streams.worker.consumer.BatchConsumer`, a service of the app, and the work is
done by :class:`~streams.worker.processor.Processor`: Redis and the engine see batches, never
single events. This module only wires the parts together; what they share is the
:class:`~streams.worker.runtime.Runtime`.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from typing import Any

import faust

from scoring.model import Model
from streams.http.api import register
from streams.kafka.clients import faust_options
from streams.settings import Settings
from streams.worker.consumer import BatchConsumer
from streams.worker.operations import install_operations
from streams.worker.runtime import Runtime

__all__ = ["Runtime", "create_app"]


def create_app(
    settings: Settings, models: Sequence[Model], shadow: Model | None = None
) -> tuple[faust.App, Runtime]:
    """Build the Faust app and its runtime; nothing connects until the worker starts."""
    app = faust.App(
        # Faust's own group (for its bookkeeping) is kept apart from the scoring group, which is
        # LEADSCORE_APP_ID itself: the two use different assignment protocols.
        f"{settings.app_id}-faust",
        broker=[f"kafka://{server.strip()}" for server in settings.kafka_bootstrap.split(",")],
        store="memory://",
        autodiscover=False,
        web_enabled=True,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        topic_partitions=1,
        topic_replication_factor=1,
        producer_acks=-1,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        **faust_options(settings),
    )
    runtime = Runtime(app, settings, models, shadow)

    @app.service
    class ScoringConsumer(BatchConsumer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.runtime = runtime
            runtime.consumer = self

        async def on_stop(self) -> None:
            await super().on_stop()
            await runtime.close(within=settings.session_timeout / 4)

    @app.timer(settings.cooling_interval, name="cool-leads")  # type: ignore[untyped-decorator]
    async def cool_leads() -> None:
        await runtime.retrying("Redis check", runtime.watch_redis)
        await runtime.retrying("rescore", runtime.rescore_if_models_changed)
        await runtime.cool()

    reloads: set[asyncio.Task[None]] = set()  # held until done: the loop keeps only weak ones

    def on_sighup() -> None:
        task = asyncio.ensure_future(runtime.reload_and_promote("SIGHUP"))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    @app.task  # type: ignore[untyped-decorator]
    async def reload_on_sighup() -> None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, on_sighup)

    if settings.model_watch_interval > 0:

        @app.timer(settings.model_watch_interval, name="watch-models")  # type: ignore[untyped-decorator]
        async def watch_models() -> None:
            if runtime.models_changed_on_disk():
                await runtime.reload_and_promote("a model file changed")

    register(app, runtime)

    install_operations(app, runtime)
    return app, runtime
