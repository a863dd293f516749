"""Re-evaluating every stored lead under the current models, so a model change is announced now.

A lowered threshold makes some leads hot that may never send another event; a raised one cools some
that would otherwise stay hot in Redis and in the explorer. Rescoring walks every stored lead and
runs it through the processor (:meth:`Processor.rescore`, the cooling timer's tick that writes only
the leads whose outcome moved): the same compare-and-set, the same outbox, the same alert ids built
from (lead, model, crossing). So it is safe beside running workers, and running it twice, or again
after an interruption, publishes nothing new: a lead already rescored has nothing left to cross.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from streams.kafka.messages import Channel, OutMessage
from streams.state.store import LeadStore
from streams.worker.processor import Processor

BATCH = 5000  # leads per read, script call and send: big, since most of them are not written


@dataclass(frozen=True, slots=True)
class RescoreReport:
    """How many leads were re-evaluated, and the hot and cooled alerts that published."""

    leads: int
    alerts: int


async def rescore(
    store: LeadStore,
    processor: Processor,
    send: Callable[[Sequence[OutMessage]], Awaitable[None]],
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
    lock: asyncio.Lock | None = None,
    on_restart: Callable[[], None] | None = None,
) -> RescoreReport:
    """Tick every stored lead, ``batch`` at a time; ``send`` must return once Kafka acknowledged.

    Each batch is confirmed only after its messages were sent, as the worker does: an interruption
    between the write and the send leaves the outbox, which the next write of the lead (or the next
    rescore) sends again with the same id. Inside a worker, ``lock`` keeps each batch of the
    rescore apart from the batches of events (they share the lead cache), and ``on_restart`` is
    told when the store turned out to have restarted, so the worker can rewind.
    """
    leads = alerts = 0
    chunk: list[str] = []

    async def run() -> None:
        nonlocal alerts
        async with lock if lock is not None else contextlib.nullcontext():
            outcome = await processor.rescore(chunk)
            if outcome.messages:
                await send(outcome.messages)
                alerts += sum(1 for m in outcome.messages if m.channel is Channel.HOT)
            if not await processor.confirm(outcome) and on_restart is not None:
                on_restart()

    async for lead_id in store.lead_ids():
        chunk.append(lead_id)
        if len(chunk) >= batch:
            await run()
            leads += len(chunk)
            chunk = []
            if progress is not None:
                progress(leads)
    if chunk:
        await run()
        leads += len(chunk)
        if progress is not None:
            progress(leads)
    return RescoreReport(leads, alerts)
