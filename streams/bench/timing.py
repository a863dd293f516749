"""Throughput from a reader's progress, measured the same way for every reader.

A reader is timed from the first records it handled to the last one, not from its start: the
seconds a consumer spends joining its group and fetching metadata are the same for every design and
would only blur the comparison. The records already handled at the first observation are left out
of the count, since the time they took is not in the window.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Progress:
    """``first_at``/``first_count``: the first time the reader was seen with records handled and
    how many; ``last_at``: when it had handled all ``total``; ``started_at``: when it was started
    (or ready), used only when the window is too short to mean anything."""

    total: int
    started_at: float
    first_at: float
    first_count: int
    last_at: float

    @property
    def seconds(self) -> float:
        return self.last_at - self.first_at

    @property
    def eps(self) -> float:
        """Events per second over the first-to-last window.

        For tiny runs where the first observation already covers most of the records, the window
        says nothing, so the rate falls back to the whole time since start.
        """
        counted = self.total - self.first_count
        if counted >= self.total * 0.1 and self.seconds > 0:
            return counted / self.seconds
        return self.total / max(self.last_at - self.started_at, 1e-6)
