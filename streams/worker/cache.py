"""The worker's memory of the leads it wrote last, so a busy lead is not read back from Redis.

Reading a lead costs a Redis round trip and decoding its record, more than applying its events.
A lead's events all arrive on one partition and so at one worker, which therefore already holds,
after writing a lead, exactly what Redis holds. The cache is only a shortcut: Redis stays the truth.

- A lead is *taken* out for a batch and *kept* again only once its write is confirmed; a write
  that failed or met another writer's change leaves it out, and the next batch reads Redis.
- Another writer (a rebuild, a second worker after a rebalance) changes the record's version, so
  the compare-and-set of a write from a stale entry fails and the lead is read again.
- Whenever Redis may hold less than the cache (a rewind to the Redis checkpoints after a restart
  that lost writes, partitions moving between workers) the whole cache is dropped: replayed events
  must be checked against what Redis has, not against what this worker remembers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from streams.state.record import StoredLead


class LeadCache:
    """Least recently used leads, at most ``capacity`` of them (0 turns the cache off)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(capacity, 0)
        self._leads: OrderedDict[str, StoredLead] = OrderedDict()

    def __len__(self) -> int:
        return len(self._leads)

    def take(self, lead_ids: Iterable[str]) -> dict[str, StoredLead]:
        """Remove and return the cached ones among ``lead_ids``."""
        leads = self._leads
        return {i: lead for i in lead_ids if (lead := leads.pop(i, None)) is not None}

    def keep(self, leads: Iterable[StoredLead]) -> None:
        """Remember leads exactly as Redis now holds them, evicting the least recently used."""
        if not self.capacity:
            return
        cached = self._leads
        for lead in leads:
            cached[lead.lead_id] = lead
            cached.move_to_end(lead.lead_id)
        while len(cached) > self.capacity:
            cached.popitem(last=False)

    def get(self, lead_id: str) -> StoredLead | None:
        return self._leads.get(lead_id)

    def clear(self) -> None:
        self._leads.clear()
