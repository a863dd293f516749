"""The lead-store protocol: what the processor, rebuild and the cooling timer need from storage.

The delivery guarantees rest on five promises, whichever store keeps them:

- **compare-and-set**: a write applies only if the lead's version is still the one that was read,
  else the lead is reported as a conflict and nothing of it is written;
- **outboxes**: a lead's record and the messages its change produced are written together, and an
  outbox is cleared only if it is exactly the one Kafka acknowledged;
- **checkpoints**: each partition's checkpoint only moves forward, and only on the instance the
  batch's leads were written to (see :meth:`LeadStore.finish`);
- **restart detection**: the store can tell that it is a new instance that may have lost writes;
- **the cooling schedule**: when each hot lead decays below re-arm, read back by due time.

:class:`~streams.state.redis_store.RedisLeadStore` keeps them in Redis with Lua scripts;
:class:`~streams.state.memory_store.MemoryLeadStore` keeps them in a dict, so the processor's
delivery cases run without services (``tests/streams/worker/test_delivery_contract.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from scoring.model import Model
from streams.state.record import StoredLead

__all__ = ["LeadStore", "LeadWrite", "models_label"]


def models_label(models: Sequence[Model]) -> str:
    """The models by name and version, in order: when it changes, stored scores may be stale."""
    return ",".join(f"{m.name}@{m.version}" for m in models)


@dataclass(frozen=True, slots=True)
class LeadWrite:
    """One compare-and-set write of a lead: the record and the outbox to keep (b"" for none)."""

    lead_id: str
    version: int
    record: bytes
    outbox: bytes = b""


class LeadStore(Protocol):
    """Lead records, their outboxes, partition checkpoints and the cooling schedule."""

    @property
    def history_length(self) -> int:
        """How many recent changes a lead record keeps (0: none)."""
        ...

    async def load(self, lead_ids: Iterable[str]) -> dict[str, StoredLead]:
        """Every asked lead, a new empty one for an id never written."""
        ...

    async def commit(self, writes: Sequence[LeadWrite]) -> list[str]:
        """Apply the writes; return the ids of leads that changed under us (write not applied)."""
        ...

    async def finish(self, sent: Mapping[str, bytes], offsets: Mapping[str, int]) -> bool:
        """After Kafka acknowledged ``sent``: clear those outboxes, advance checkpoints.

        Returns False when the store is not the instance trusted since the last rewind (it
        restarted): checkpoints then stay put, and the caller must rewind to them.
        """
        ...

    async def restarted(self) -> bool:
        """Whether the store is another instance than the one trusted (it restarted).

        The first look learns the instance; after that only :meth:`adopt_instances` changes it.
        """
        ...

    async def adopt_instances(self) -> None:
        """Trust the instance there now, so checkpoints advance on it again.

        Only a rewind may call this, just before it reads the checkpoints it goes back to: an
        instance that came since may lack writes, which only that rewind replays. Trusting it
        earlier would let a batch move its checkpoint past them.
        """
        ...

    def lead_ids(self) -> AsyncIterator[str]:
        """Every stored lead id; an id may come more than once."""
        ...

    async def scored_by(self) -> str | None:
        """Which models last scored every stored lead (see :func:`models_label`), if recorded."""
        ...

    async def mark_scored_by(self, label: str) -> None:
        """Record that every stored lead is now scored by the models ``label`` names."""
        ...

    async def checkpoints(self) -> dict[str, int]:
        """Every partition's checkpoint, as ``{"topic:partition": next offset}``."""
        ...

    async def schedule_cooling(self, due: Mapping[str, float | None]) -> None:
        """Record when each hot lead will cool (None: not hot, drop it from the schedule)."""
        ...

    async def cooling_times(self, lead_ids: Sequence[str]) -> dict[str, float]:
        """When each of these leads is scheduled to cool, for those in the schedule."""
        ...

    async def due_for_cooling(self, now: float, limit: int) -> list[str]:
        """Up to ``limit`` leads due to cool by ``now`` (epoch seconds), the earliest first."""
        ...
