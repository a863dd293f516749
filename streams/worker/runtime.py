"""The resources of one worker process and the retry loop every step of it runs in.

:class:`Runtime` is what the consumer, the HTTP API, the lag probe and the explorer share. It sits
below all of them and below :mod:`streams.worker.app`, which wires them together: none of them
needs the app module, so the package has no import circle. The consumer is seen here only through
:class:`ConsumerHandle`, the three things the runtime asks of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import faust
from aiokafka.errors import KafkaError

from scoring.errors import ModelError
from scoring.model import Model
from streams.errors import Stopping
from streams.kafka.publisher import Publisher
from streams.kafka.topics import message_limit
from streams.observability.metrics import Metrics
from streams.settings import Settings
from streams.state.keys import Keys
from streams.state.redis_store import RedisLeadStore, connect
from streams.state.store import models_label
from streams.worker.cache import LeadCache
from streams.worker.modelset import load_worker_models, model_files, same_models
from streams.worker.processor import BatchOutcome, ConsumedRecord, Processor
from streams.worker.rebuild import catch_up_with_announced
from streams.worker.rescore import rescore
from streams.worker.retry import may_retry

log = logging.getLogger("leadscore.worker")

_MAX_BACKOFF = 10.0


class ConsumerHandle(Protocol):
    """What the runtime needs from the worker's consumer (:class:`~.consumer.BatchConsumer`)."""

    lock: asyncio.Lock

    def assignment(self) -> set[Any]: ...

    def request_rewind(self, reason: str) -> None: ...


class Runtime:
    """Resources of one worker process, opened lazily inside the worker's event loop."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        models: Sequence[Model],
        shadow: Model | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.models = tuple(models)
        self.shadow = shadow
        # Models read from disk that take over at the next gap between batches (see reload).
        self._next: tuple[list[Model], Model | None] | None = None
        self._files = model_files(settings)
        self.metrics = Metrics()
        self.keys = Keys(settings.redis_prefix)
        self.consumer: ConsumerHandle | None = None
        self._store: RedisLeadStore | None = None
        self._visitors: RedisLeadStore | None = None
        self._accounts: RedisLeadStore | None = None
        self._processor: Processor | None = None
        self._publisher: Publisher | None = None
        self._publisher_lock = asyncio.Lock()
        self.stopping = asyncio.Event()  # set when the worker starts to stop: retries give up
        # What keeps failing, since when (monotonic seconds): /healthz reports a stall.
        self.failing: dict[str, float] = {}
        self._models_checked = False  # see rescore_if_models_changed

    @property
    def store(self) -> RedisLeadStore:
        if self._store is None:
            client = connect(self.settings.redis_url, self.settings.redis_cluster)
            history = self.settings.history_length
            self._store = RedisLeadStore(client, self.keys, history, self.metrics)
        return self._store

    @property
    def visitors(self) -> RedisLeadStore:
        """Anonymous visitors' records: the lead store's machinery under their own key prefix."""
        if self._visitors is None:
            keys = self.keys.visitors
            self._visitors = RedisLeadStore(self.store.client, keys, 0, self.metrics)
        return self._visitors

    @property
    def accounts(self) -> RedisLeadStore:
        """Accounts' records: the lead store's machinery under their own key prefix."""
        if self._accounts is None:
            keys = self.keys.accounts
            history = self.settings.history_length
            self._accounts = RedisLeadStore(self.store.client, keys, history, self.metrics)
        return self._accounts

    @property
    def processor(self) -> Processor:
        if self._processor is None:
            self._processor = Processor(
                self.store,
                self.models,
                self.metrics,
                self.settings.max_event_bytes,
                cache=LeadCache(self.settings.lead_cache),
                dead_letter_limit=self.settings.dead_letter_max_bytes,
                visitors=self.visitors,
                identity_topic=self.settings.topics.identity,
                expire_visitors=self.visitors.expire,
                anonymous_ttl=self.settings.anonymous_ttl_days * 86400,
                accounts=self.accounts,
                accounts_topic=self.settings.topics.accounts,
                analytics_topic=self.settings.topics.analytics,
                track_overrides=self.settings.track_overrides,
                shadow=self.shadow,
            )
        return self._processor

    async def publisher(self) -> Publisher:
        async with self._publisher_lock:
            if self._publisher is None:
                publisher = Publisher(self.settings)
                await publisher.__aenter__()
                self._publisher = publisher
        return self._publisher

    async def fit_dead_letters(self) -> None:
        """Keep dead letters within the dead-letter topic's own size limit, as Kafka reports it."""
        topic = self.settings.topics.dlq
        try:
            limit = await message_limit(self.settings, topic)
        except (KafkaError, OSError) as exc:
            log.warning("could not read max.message.bytes of %s (%s)", topic, type(exc).__name__)
            return
        if limit is not None and limit < self.processor.dead_letter_limit:
            log.info("dead letters kept under %d bytes, the limit of %s", limit, topic)
            self.processor.dead_letter_limit = limit

    def assigned_partitions(self) -> int:
        return len(self.consumer.assignment()) if self.consumer else 0

    async def handle(self, records: Sequence[ConsumedRecord]) -> None:
        """Process a batch until it succeeds; a batch is never dropped for a passing outage."""
        if self._next is not None:
            await self.retrying("promotion", self.promote)
        if not self._models_checked:
            await self.retrying("rescore", lambda: self.rescore_if_models_changed(locked=True))
        await self.retrying("batch", lambda: self._handle_once(records))

    async def cool(self) -> None:
        """Emit coolings for hot leads whose score has decayed below the re-arm level.

        The whole step is one retried attempt: an error escaping a Faust timer stops the worker,
        and a restarting Redis answers "loading" for a while after it accepts connections.
        """
        await self.retrying("cooling", self._cool_once)

    async def _cool_once(self) -> None:
        now, limit = self.processor.clock(), self.settings.batch_size
        due = await self.store.due_for_cooling(now, limit)
        if due and self.consumer is not None:
            async with self.consumer.lock:  # never beside a batch: they may share leads
                await self._deliver(self.processor.tick(due))
        due_accounts = await self.accounts.due_for_cooling(now, limit)
        if due_accounts and self.consumer is not None:
            async with self.consumer.lock:
                await self._deliver(self.processor.tick_accounts(due_accounts))

    def models_changed_on_disk(self) -> bool:
        """Whether a model file changed (modified, replaced, gone) since the last look."""
        now = model_files(self.settings)
        changed, self._files = now != self._files, now
        return changed

    def reload(self, why: str) -> bool:
        """Read the model files again; on success they take over at the next gap between batches.

        A set that fails the checks of ``leadscore model check`` is refused with one log line
        naming each problem, and the models running now keep scoring. Returns whether the models
        read differ from those running (or already waiting to take over).
        """
        running = models_label(self.models)
        try:
            models, shadow = load_worker_models(self.settings)
        except ModelError as err:
            problems = "; ".join(str(p) for p in err.problems)
            log.error(
                "model reload (%s) refused, still scoring with %s: %s", why, running, problems
            )
            return False
        current, current_shadow = self._next or (list(self.models), self.shadow)
        if same_models(models, current) and same_models(
            [shadow] if shadow else [], [current_shadow] if current_shadow else []
        ):
            log.info("model reload (%s): nothing changed, still scoring with %s", why, running)
            return False
        log.info("model reload (%s): %s takes over from %s", why, models_label(models), running)
        self._next = (models, shadow)
        return True

    async def promote(self) -> None:
        """Swap in models a reload read, between two batches (the caller holds the consumer's
        lock, or no consumer runs yet), then rescore as at start-up."""
        if self._next is None:
            return
        (models, shadow), self._next = self._next, None
        self.models, self.shadow = tuple(models), shadow
        if self._processor is not None:
            self._processor.use_models(models, shadow)
        self._models_checked = False
        await self.rescore_if_models_changed(locked=True)

    async def reload_and_promote(self, why: str) -> None:
        """Reload the model files and, if they changed, promote them at once between batches."""
        if self.reload(why) and self.consumer is not None:
            async with self.consumer.lock:
                await self.retrying("promotion", self.promote)

    async def rescore_if_models_changed(self, locked: bool = False) -> None:
        """At start and after each promotion: when other models (name or version) last scored
        the stored leads, rescore them all, so what the change makes hot or cools is announced
        now rather than at each lead's next event (``LEADSCORE_RESCORE_ON_START``).

        Runs before the first batch (``locked``: the caller holds the consumer's lock already),
        or from the cooling timer when no event comes; either way the models are recorded as the
        ones scoring the leads from then on.
        """
        if self._models_checked or self.consumer is None:
            return
        label = models_label(self.models)
        previous = await self.store.scored_by()
        if previous is not None and previous != label and self.settings.rescore_on_start:
            log.info("models changed (%s -> %s): rescoring every stored lead", previous, label)
            consumer = self.consumer
            report = await rescore(
                self.store,
                self.processor,
                (await self.publisher()).send,
                lock=None if locked else consumer.lock,
                on_restart=lambda: consumer.request_rewind("Redis restarted"),
            )
            log.info("rescored %d leads: %d alerts published", report.leads, report.alerts)
        await self.store.mark_scored_by(label)
        self._models_checked = True

    async def watch_redis(self) -> None:
        """Rewind when Redis restarted: it may have lost its last second of writes."""
        if await self.store.restarted() and self.consumer:
            self.consumer.request_rewind("Redis restarted")

    async def catch_up_announced(self) -> None:
        """After replaying writes Redis lost: no lead or account may count fewer crossings than
        announced."""
        raised = await catch_up_with_announced(
            self.settings, self.store, self.models, self.accounts
        )
        if raised:
            log.warning("%d leads caught up with the alerts already announced for them", raised)

    async def _handle_once(self, records: Sequence[ConsumedRecord]) -> None:
        with self.metrics.batch_seconds.time():
            await self._deliver(self.processor.process(records))

    async def _deliver(self, pending: Awaitable[BatchOutcome]) -> None:
        outcome = await pending
        if outcome.messages:
            await (await self.publisher()).send(outcome.messages)
        if not await self.processor.confirm(outcome) and self.consumer:
            self.consumer.request_rewind("Redis restarted")

    async def retrying(self, what: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``attempt`` until it succeeds, backing off; raises :class:`Stopping` on stop."""
        delay = 0.1
        while True:
            try:
                result = await attempt()
            except Stopping:
                raise
            except Exception as exc:
                if not may_retry(exc):
                    raise
                self.failing.setdefault(what, time.monotonic())
                log.warning(
                    "%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                if self.stopping.is_set():
                    raise Stopping(what) from exc
                delay = min(delay * 2, _MAX_BACKOFF)
            else:
                self.failing.pop(what, None)
                return result

    def stalled(self, after: float) -> tuple[str, float] | None:
        """The step that has kept failing for longer than ``after`` seconds, and for how long."""
        now = time.monotonic()
        for what, since in self.failing.items():
            if now - since > after:
                return what, now - since
        return None

    async def close(self, within: float) -> None:
        """Close the clients; a broker that does not answer gets ``within`` seconds, no more."""
        if self._publisher is not None:
            try:
                await asyncio.wait_for(self._publisher.__aexit__(None, None, None), within)
            except (TimeoutError, KafkaError) as exc:
                log.warning("the producer did not close cleanly (%s)", type(exc).__name__)
        if self._store is not None:
            await self._store.client.aclose()
