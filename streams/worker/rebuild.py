"""Rebuilding lead state in Redis from the retained input topics.

For when Redis lost its data (a FLUSHALL, a lost volume). Every input partition is read from the
beginning up to its end at the start of the rebuild and applied with the same processor the worker
uses, without publishing anything: the alerts and score changes were published when the events first
arrived. Applying an event twice changes nothing, so a rebuild may run beside a live worker, and the
checkpoints it writes let the worker carry on from where the rebuild stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.exceptions import RedisError

from scoring.engine import cools_at
from scoring.model import Model
from streams.kafka.clients import kafka_consumer
from streams.kafka.topics import partitions_of
from streams.observability.metrics import Metrics
from streams.settings import Settings
from streams.state.keys import Keys
from streams.state.record import StoredLead, encode
from streams.state.redis_store import RedisLeadStore, connect
from streams.state.store import LeadStore, LeadWrite
from streams.worker import accounts as account_side
from streams.worker.processor import ConsumedRecord, Processor


@dataclass(frozen=True, slots=True)
class RebuildReport:
    records: int
    events: int
    rejected: int
    partitions: int


def _reader(settings: Settings) -> AIOKafkaConsumer:
    """A consumer outside any group: it reads topics whole and commits nothing."""
    return kafka_consumer(settings, enable_auto_commit=False, group_id=None)


async def _read_to_end(
    consumer: AIOKafkaConsumer, settings: Settings, topics: Sequence[str]
) -> AsyncIterator[tuple[list[ConsumedRecord], int]]:
    """Every record now on ``topics``, from the beginning up to each partition's current end, in
    batches; also yields the total number of records to expect."""
    counts = await partitions_of(settings, topics)
    partitions = [TopicPartition(t, p) for t, n in counts.items() for p in range(n)]
    if not partitions:
        return
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    total = sum(ends.values())
    pending = {tp for tp in partitions if ends[tp] > await consumer.position(tp)}
    while pending:
        fetched = await consumer.getmany(*pending, timeout_ms=1000, max_records=settings.batch_size)
        records = [
            ConsumedRecord.from_kafka(m)
            for tp, ms in fetched.items()
            for m in ms
            if m.offset < ends[tp]
        ]
        if records:
            yield records, total
        pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}


async def rebuild(
    settings: Settings,
    models: Sequence[Model],
    progress: Callable[[int, int], None] | None = None,
) -> RebuildReport:
    """Replay every input partition from its beginning into Redis; returns what was read.

    Then restore what the world was told: replayed in other batches than the live run, a lead may
    cross its threshold a different number of times, so each lead's hot status and crossing count
    are taken from the last hot alert or cooling it announced on the routing topic. A rebuilt lead
    therefore never reuses the id of an alert already sent for an earlier crossing.
    """
    client = connect(settings.redis_url, settings.redis_cluster)
    metrics = Metrics()
    store = RedisLeadStore(client, Keys(settings.redis_prefix), settings.history_length, metrics)
    account_store = RedisLeadStore(client, store.keys.accounts, settings.history_length, metrics)
    processor = Processor(
        store,
        models,
        metrics,
        settings.max_event_bytes,
        emit=False,
        # the identity topic is replayed too: visitors' records and links come back with it
        visitors=RedisLeadStore(client, store.keys.visitors, 0, metrics),
        identity_topic=settings.topics.identity,
        # and the accounts topic: accounts come back from their leads' summaries
        accounts=account_store,
        accounts_topic=settings.topics.accounts,
        analytics_topic=settings.topics.analytics,
        track_overrides=settings.track_overrides,
    )
    consumer = _reader(settings)
    await consumer.start()
    try:
        read = events = rejected = 0
        async for records, total in _read_to_end(consumer, settings, settings.topics.consumed):
            outcome = await processor.process(records)
            if not await processor.confirm(outcome):
                raise RedisError("Redis restarted during the rebuild and may have lost its writes")
            read += len(records)
            events += outcome.events
            rejected += outcome.rejected
            if progress:
                progress(read, total)
        announced = await _announced(consumer, settings)
        await _restore_announced(store, models, announced, settings.batch_size)
        by_account = await _announced(consumer, settings, accounts=True)
        await _restore_accounts(account_store, models, by_account, settings.batch_size)
        partitions = await partitions_of(settings, settings.topics.consumed)
        return RebuildReport(read, events, rejected, sum(partitions.values()))
    finally:
        await consumer.stop()
        await client.aclose()


Announced = dict[tuple[str, str], tuple[int, bool]]


async def _announced(
    consumer: AIOKafkaConsumer, settings: Settings, accounts: bool = False
) -> Announced:
    """(lead, model) -> (crossing, hot) as the routing topic tells it; see `fold_announcements`.
    With ``accounts``: (account, model) as ``accounts.hot`` tells it."""
    announced: Announced = {}
    topics = settings.topics
    topic, subject = (topics.accounts_hot, "account_id") if accounts else (topics.hot, "lead_id")
    async for records, _ in _read_to_end(consumer, settings, [topic]):
        fold_announcements(announced, announcements((m.value for m in records), subject), subject)
    return announced


def announcements(
    values: Iterable[bytes | None], subject: str = "lead_id"
) -> Iterator[dict[str, Any]]:
    """The alerts and coolings among a routing topic's messages, skipping anything else.

    Anyone with write access can put anything on the topic; one unreadable message must not stop
    a rebuild or the worker's catch-up, and no other writer's message can be an announcement.
    """
    for value in values:
        try:
            alert = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            continue
        if (
            isinstance(alert, dict)
            and alert.get("kind") in ("hot", "cooled")
            and type(alert.get("crossing")) is int
            and isinstance(alert.get(subject), str)
            and isinstance(alert.get("model"), str)
        ):
            yield alert


def fold_announcements(
    announced: Announced, alerts: Iterable[dict[str, Any]], subject: str = "lead_id"
) -> None:
    """Fold hot alerts and coolings, in offset order, into what their consumers were told.

    The highest crossing wins, not the last message: a worker replaying writes Redis lost may
    announce an earlier crossing again (same id, dropped by consumers) after a later one. A lead is
    hot when its highest crossing was alerted and not yet cooled; a replayed alert of a crossing
    whose cooling was already sent does not make it hot again, as consumers drop that duplicate.
    """
    for alert in alerts:
        key = (str(alert.get(subject)), str(alert.get("model")))
        crossing, hot = int(alert["crossing"]), alert.get("kind") == "hot"
        seen, was_hot = announced.get(key, (0, False))
        if crossing > seen:
            announced[key] = (crossing, hot)
        elif crossing == seen and was_hot and not hot:
            announced[key] = (crossing, False)


async def catch_up_with_announced(
    settings: Settings,
    store: LeadStore,
    models: Sequence[Model],
    accounts: LeadStore | None = None,
) -> int:
    """Raise the hysteresis memory of leads that count fewer crossings than were announced.

    For the live worker after Redis lost writes and the lost events were replayed: the replay may
    take another path (other batches) and end a crossing short of an alert already sent, and that
    lead's next real alert would then reuse the sent alert's id. Only leads behind are touched;
    returns how many.
    """
    consumer = _reader(settings)
    await consumer.start()
    try:
        announced = await _announced(consumer, settings)
        by_account = await _announced(consumer, settings, accounts=True) if accounts else {}
    finally:
        await consumer.stop()

    def raise_behind(lead: StoredLead) -> bool:
        behind = False
        for model in models:
            crossing, hot = announced.get((lead.lead_id, model.name), (0, False))
            state = lead.state(model.name)
            if state.crossings < crossing:
                state.crossings, state.hot, behind = crossing, hot, True
        return behind

    ids = sorted({lead for lead, _ in announced})
    raised = 0
    for start in range(0, len(ids), settings.batch_size):
        raised += await _rewrite(
            store, models, ids[start : start + settings.batch_size], raise_behind
        )
    if accounts is not None:  # accounts alike, from accounts.hot
        account_ids = sorted({account for account, _ in by_account})
        for start in range(0, len(account_ids), settings.batch_size):
            chunk = account_ids[start : start + settings.batch_size]
            raised += await _rewrite(
                accounts,
                models,
                chunk,
                lambda stored: account_side.raise_to_announced(stored, by_account, models),
                account_side.cooling_due,
            )
    return raised


def _cooling_due(lead: StoredLead, models: Sequence[Model]) -> float | None:
    """The earliest time any of the lead's hot states decays below its re-arm level."""
    now = datetime.now(UTC)
    due: float | None = None
    for model in models:
        state = lead.state(model.name)
        if state.hot:
            at = cools_at(state, model, now)
            if at is not None:
                due = min(due or at.timestamp(), at.timestamp())
    return due


async def _restore_announced(
    store: LeadStore,
    models: Sequence[Model],
    announced: Announced,
    batch_size: int,
) -> None:
    """Set every lead's hysteresis memory to what the routing topic says was announced."""
    batch: list[str] = []
    async for lead_id in store.lead_ids():
        batch.append(lead_id)
        if len(batch) >= batch_size:
            await _restore_batch(store, models, announced, batch)
            batch = []
    if batch:
        await _restore_batch(store, models, announced, batch)


async def _restore_batch(
    store: LeadStore,
    models: Sequence[Model],
    announced: Announced,
    lead_ids: list[str],
) -> None:
    def set_announced(lead: StoredLead) -> bool:
        for model in models:
            state = lead.state(model.name)
            state.crossings, state.hot = announced.get((lead.lead_id, model.name), (0, False))
        return True

    await _rewrite(store, models, lead_ids, set_announced)


async def _restore_accounts(
    store: LeadStore, models: Sequence[Model], announced: Announced, batch_size: int
) -> None:
    """Set every account's hysteresis memory to what ``accounts.hot`` says was announced."""
    batch: list[str] = []

    async def restore(ids: list[str]) -> None:
        def set_announced(stored: StoredLead) -> bool:
            return account_side.set_announced(stored, announced, models)

        await _rewrite(store, models, ids, set_announced, account_side.cooling_due)

    async for account_id in store.lead_ids():
        batch.append(account_id)
        if len(batch) >= batch_size:
            await restore(batch)
            batch = []
    if batch:
        await restore(batch)


async def _rewrite(
    store: LeadStore,
    models: Sequence[Model],
    lead_ids: Sequence[str],
    change: Callable[[StoredLead], bool],
    due: Callable[[StoredLead, Sequence[Model]], float | None] | None = None,
) -> int:
    """Apply ``change`` to each lead and write back those it changed, with compare-and-set.

    Leads another writer changed meanwhile are read again and changed again. A pending outbox
    (a live worker's) is kept, and the cooling schedule follows the new hot status. Returns how
    many leads were written.
    """
    written = 0
    pending = list(lead_ids)
    while pending:
        leads = await store.load(pending)
        writes: list[LeadWrite] = []
        cooling: dict[str, float | None] = {}
        for lead_id, lead in leads.items():
            if not change(lead):
                continue
            cooling[lead_id] = (due or _cooling_due)(lead, models)
            outbox = orjson.dumps(lead.outbox) if lead.outbox else b""
            writes.append(LeadWrite(lead_id, lead.version, encode(lead, lead.version + 1), outbox))
        conflicts = set(await store.commit(writes))
        await store.schedule_cooling({k: v for k, v in cooling.items() if k not in conflicts})
        written += len(writes) - len(conflicts)
        pending = sorted(conflicts)
    return written
