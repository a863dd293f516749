"""Redis key names.

A lead's keys carry its id in braces, a Redis hash tag, so they share one Redis Cluster slot: the
store's scripts, which write a batch of leads at once, are split by slot on a cluster (see
``streams.store``) and still see each lead's record and outbox together.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str

    def lead(self, lead_id: str) -> str:
        """String: the lead's version, per-model state and summary, and recent history."""
        return f"{self.prefix}:lead:{{{lead_id}}}"

    def outbox(self, lead_id: str) -> str:
        """Messages a change of the lead produced that Kafka has not acknowledged yet."""
        return f"{self.prefix}:out:{{{lead_id}}}"

    @property
    def cooling(self) -> str:
        """Sorted set: hot lead id -> the time (epoch seconds) its score decays below re-arm."""
        return f"{self.prefix}:cooling"

    @property
    def offsets(self) -> str:
        """Hash: ``topic:partition`` -> the next offset whose effects are not all in Redis yet."""
        return f"{self.prefix}:offsets"

    def pattern(self) -> str:
        """A SCAN pattern matching every key of this deployment."""
        return f"{self.prefix}:*"
