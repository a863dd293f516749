"""Reading the input topics a batch at a time, as a service of the Faust app.

Faust runs the worker: its lifecycle, signals, web server and timers. Its per-message stream
machinery, though, costs more per event than everything leadscore does with the event, so the input
topics are read by a plain aiokafka consumer group owned by this service: `getmany` returns up to
``LEADSCORE_BATCH_SIZE`` records, which go to the runtime whole. One consumer per worker, one batch
in flight at a time; scale out with partitions and workers.

Offsets: Kafka's committed offsets are advanced after each batch is applied and its messages
acknowledged (at least once). On assignment, and when Redis restarted, partitions are moved back to
the checkpoint kept in Redis where that is behind, because Redis may have lost writes that Kafka
already counts as consumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from mode import Service

from streams.errors import Stopping
from streams.kafka.clients import kafka_consumer
from streams.worker.processor import ConsumedRecord

if TYPE_CHECKING:
    from streams.worker.runtime import Runtime

log = logging.getLogger("leadscore.consumer")

COMMIT_INTERVAL = 1.0


class BatchConsumer(Service):
    """The worker's consumer group over the input topics."""

    runtime: Runtime  # bound by a subclass made in ``create_app``

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.consumer: AIOKafkaConsumer | None = None
        self.lock = asyncio.Lock()  # one batch (or rebalance step) at a time
        self._uncommitted: dict[TopicPartition, int] = {}
        self._rewind: str | None = None
        # After a rewind for lost Redis writes: how far each partition had been read before it.
        self._replay_until: dict[TopicPartition, int] = {}
        self._task: asyncio.Task[Any] | None = None

    def assignment(self) -> set[TopicPartition]:
        return set(self.consumer.assignment()) if self.consumer else set()

    def request_rewind(self, reason: str) -> None:
        """Ask for a rewind to the Redis checkpoints before the next batch."""
        self._rewind = reason

    async def on_start(self) -> None:
        settings = self.runtime.settings
        await self.runtime.fit_dead_letters()
        self.consumer = kafka_consumer(
            settings,
            group_id=settings.app_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(settings.session_timeout * 1000),
            heartbeat_interval_ms=int(settings.heartbeat_interval * 1000),
            max_poll_records=settings.batch_size,
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        self.consumer.subscribe(list(settings.topics.consumed), listener=_Listener(self))
        await self.consumer.start()

    async def on_stop(self) -> None:
        """Let the batch in flight finish if it can, commit what was applied, leave the group.

        Each step is bounded: a batch retrying against a broker or Redis that does not answer is
        given up (its records are read again by whoever owns the partitions next).
        """
        self.runtime.stopping.set()
        grace = self.runtime.settings.session_timeout / 4
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except (TimeoutError, Stopping):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Stopping):
                    await task
        if self.consumer is not None:
            try:
                await asyncio.wait_for(self._stop_consumer(), grace)
            except (TimeoutError, KafkaError) as exc:
                log.warning("the consumer did not stop cleanly (%s)", type(exc).__name__)

    async def _stop_consumer(self) -> None:
        assert self.consumer is not None
        async with self.lock:
            await self._commit(self._uncommitted)
        await self.consumer.stop()

    @Service.task
    async def _consume(self) -> None:
        self._task = asyncio.current_task()
        try:
            await self._consume_batches()
        except Stopping as stopped:
            log.info("the worker is stopping; %s given up, to be read again", stopped)

    async def _consume_batches(self) -> None:
        assert self.consumer is not None
        consumer = self.consumer
        settings = self.runtime.settings
        wait_ms = max(int(settings.batch_within * 1000), 1)
        last_commit = time.monotonic()
        while not self.should_stop and not self.runtime.stopping.is_set():
            if self._rewind is not None:
                reason, self._rewind = self._rewind, None
                async with self.lock:
                    await self.runtime.retrying("rewind", functools.partial(self.rewind, reason))
            fetched = await consumer.getmany(timeout_ms=wait_ms, max_records=settings.batch_size)
            if fetched:
                async with self.lock:
                    records = [ConsumedRecord.from_kafka(m) for ms in fetched.values() for m in ms]
                    await self.runtime.handle(records)
                    for tp, messages in fetched.items():
                        self._uncommitted[tp] = messages[-1].offset + 1
            if self._replay_until and await self._replayed():
                async with self.lock:
                    await self.runtime.retrying("announcements", self.runtime.catch_up_announced)
            if self._uncommitted and time.monotonic() - last_commit >= COMMIT_INTERVAL:
                async with self.lock:
                    await self._commit(self._uncommitted)
                last_commit = time.monotonic()

    async def rewind(self, reason: str, partitions: Iterable[TopicPartition] | None = None) -> int:
        """Seek partitions back to their Redis checkpoint where it is behind; returns how many.

        Behind what: the position being read, or, for partitions just assigned (whose position is
        not fetched yet), the committed offset they would resume from.
        """
        assert self.consumer is not None
        consumer = self.consumer
        self.runtime.processor.cache.clear()  # replayed events must meet what Redis holds
        chosen = list(partitions if partitions is not None else consumer.assignment())
        if not chosen:
            return 0
        store = self.runtime.store
        if partitions is None:
            await store.adopt_instances()  # checkpoints advance only on the Redis read here
        elif await store.restarted():
            # Only a rewind of every partition may trust a new instance: it may lack writes of
            # partitions this worker already had, too.
            self.request_rewind("Redis restarted")
        checkpoints = await store.checkpoints()
        rewound = 0
        for tp in chosen:
            checkpoint = checkpoints.get(f"{tp.topic}:{tp.partition}")
            if checkpoint is None:
                continue
            try:
                if partitions is None:
                    position: int | None = await consumer.position(tp)
                else:
                    position = await consumer.committed(tp)
            except IllegalStateError:  # no longer ours
                continue
            if position is None or checkpoint < position:
                if partitions is None and position is not None:  # replaying lost Redis writes
                    self._replay_until[tp] = max(position, self._replay_until.get(tp, 0))
                consumer.seek(tp, checkpoint)
                self._uncommitted.pop(tp, None)
                rewound += 1
        if rewound:
            log.warning("rewound %d partitions to their Redis checkpoints (%s)", rewound, reason)
            self.runtime.metrics.rewinds.inc(rewound)
        return rewound

    async def _replayed(self) -> bool:
        """Whether every partition rewound for lost Redis writes is read up to where it was."""
        assert self.consumer is not None
        owned = self.consumer.assignment()
        for tp in list(self._replay_until):
            if tp not in owned or await self.consumer.position(tp) >= self._replay_until[tp]:
                del self._replay_until[tp]
        return not self._replay_until

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit what was applied; a partition that moved to another worker is its business now."""
        if not offsets or self.consumer is None:
            return
        owned = self.consumer.assignment()
        mine = {tp: offset for tp, offset in offsets.items() if tp in owned}
        try:
            if mine:
                await self.consumer.commit(mine)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            log.warning("offset commit skipped (%s); the batch may be read again", exc)
        offsets.clear()


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: BatchConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # Wait for the batch in flight, then commit what it applied while the partitions are ours.
        async with self.owner.lock:
            await self.owner._commit(self.owner._uncommitted)
            self.owner.runtime.processor.cache.clear()  # their leads may be written elsewhere now

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        owner = self.owner
        if assigned:
            rewind = functools.partial(owner.rewind, "partitions assigned", assigned)
            await owner.runtime.retrying("rewind", rewind)
