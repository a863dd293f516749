"""A lead store in process memory, with the same contract as the Redis store.

It exists so that the processor's delivery guarantees can be checked without services, and so a
change to those guarantees is made against a contract rather than against Redis's behaviour. It
mirrors the Lua scripts step by step: versions are read from the record bytes exactly as
``commit.lua`` reads them, and ``finish`` clears only the outboxes that are byte-for-byte the ones
sent. :meth:`MemoryServer.restart` plays a Redis restart, optionally losing the writes made since
the last acknowledged batch, as an append-only file may.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence

from streams.state import record
from streams.state.record import StoredLead
from streams.state.store import LeadStore, LeadWrite

__all__ = ["MemoryLeadStore", "MemoryServer"]

_VERSION = re.compile(rb"^(\d+)\n")
_instances = itertools.count(1)


class MemoryServer:
    """What a Redis server holds for one deployment; several stores (workers) may share one."""

    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.outboxes: dict[str, bytes] = {}
        self.offsets: dict[str, int] = {}
        self.cooling: dict[str, float] = {}
        self.scored_by: str | None = None
        self.instance = f"{next(_instances):040x}"  # as Redis's run id
        self._durable: tuple[dict[str, bytes], dict[str, bytes]] = ({}, {})

    def persist(self) -> None:
        """Mark what is written now as surely kept (as an fsync of Redis's append-only file)."""
        self._durable = (dict(self.records), dict(self.outboxes))

    def restart(self, lose_unacknowledged: bool = False) -> None:
        """Become a new instance; with ``lose_unacknowledged``, forget lead writes made since the
        last batch whose checkpoints moved (what a Redis that lost its last second would forget).
        """
        self.instance = f"{next(_instances):040x}"
        if lose_unacknowledged:
            self.records, self.outboxes = (dict(part) for part in self._durable)


class MemoryLeadStore:
    """A :class:`~streams.state.store.LeadStore` over a :class:`MemoryServer`, as a client is."""

    def __init__(self, server: MemoryServer | None = None, history_length: int = 10) -> None:
        self.server = server if server is not None else MemoryServer()
        self.history_length = max(history_length, 0)
        # The instance the checkpoints may advance on, as the Redis store's ``run_id``: learnt at
        # the first look, then replaced only by ``adopt_instances``.
        self.run_id: str | None = None

    async def load(self, lead_ids: Iterable[str]) -> dict[str, StoredLead]:
        records, outboxes = self.server.records, self.server.outboxes
        return {
            lead_id: record.decode(lead_id, records.get(lead_id), outboxes.get(lead_id))
            for lead_id in lead_ids
        }

    async def commit(self, writes: Sequence[LeadWrite]) -> list[str]:
        server = self.server
        conflicts: list[str] = []
        for w in {w.lead_id: w for w in writes}.values():
            current = server.records.get(w.lead_id)
            found = _VERSION.match(current) if current is not None else None
            if (found.group(1).decode() if found else "0") != str(w.version):
                conflicts.append(w.lead_id)
                continue
            server.records[w.lead_id] = w.record
            if w.outbox:
                server.outboxes[w.lead_id] = w.outbox
            else:
                server.outboxes.pop(w.lead_id, None)
        return conflicts

    async def finish(self, sent: Mapping[str, bytes], offsets: Mapping[str, int]) -> bool:
        if not sent and not offsets:
            return True
        server = self.server
        for lead_id, value in sent.items():
            if server.outboxes.get(lead_id) == value:
                del server.outboxes[lead_id]
        if not offsets:
            return True
        if not self._is_trusted(server.instance):
            return False
        for field, offset in offsets.items():
            if offset > server.offsets.get(field, -1):
                server.offsets[field] = offset
        server.persist()
        return True

    async def restarted(self) -> bool:
        return not self._is_trusted(self.server.instance)

    async def adopt_instances(self) -> None:
        self.run_id = self.server.instance

    def _is_trusted(self, instance: str) -> bool:
        if self.run_id is None:  # the first look learns the instance
            self.run_id = instance
        return self.run_id == instance

    async def lead_ids(self) -> AsyncIterator[str]:
        for lead_id in list(self.server.records):
            yield lead_id

    async def scored_by(self) -> str | None:
        return self.server.scored_by

    async def mark_scored_by(self, label: str) -> None:
        self.server.scored_by = label

    async def checkpoints(self) -> dict[str, int]:
        return dict(self.server.offsets)

    async def schedule_cooling(self, due: Mapping[str, float | None]) -> None:
        cooling = self.server.cooling
        for lead_id, at in due.items():
            if at is None:
                cooling.pop(lead_id, None)
            else:
                cooling[lead_id] = at

    async def cooling_times(self, lead_ids: Sequence[str]) -> dict[str, float]:
        cooling = self.server.cooling
        return {lead_id: cooling[lead_id] for lead_id in lead_ids if lead_id in cooling}

    async def due_for_cooling(self, now: float, limit: int) -> list[str]:
        # Redis orders a sorted set by score, then by member bytes
        cooling = self.server.cooling
        due = sorted((at, lead_id.encode()) for lead_id, at in cooling.items() if at <= now)
        return [lead_id.decode() for _, lead_id in due[:limit]]


def _conforms(store: MemoryLeadStore) -> LeadStore:
    """Never called: mypy checks here that this store keeps the whole protocol."""
    return store
