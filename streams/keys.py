"""Redis key names.

A lead's keys share the hash tag ``{lead_id}`` so the one script that updates a lead touches a
single cluster slot; the same code therefore runs on a single Redis and on Redis Cluster.
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
