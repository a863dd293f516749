"""Hot-lead thresholds with hysteresis.

A lead becomes hot when its score reaches the hot threshold. It stays hot until the score drops
below the lower re-arm level, so a score wobbling around the threshold raises one alert, not many.
Only after cooling can the lead cross again, and each crossing is numbered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from scoring.model import Thresholds
from scoring.state import LeadState


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of hot status: ``hot`` (the ``crossing``-th time) or ``cooled``."""

    kind: Literal["hot", "cooled"]
    crossing: int


def is_hot(was_hot: bool, score: int, thresholds: Thresholds) -> bool:
    """The hot status after seeing ``score``, given the status before."""
    return score >= thresholds.rearm if was_hot else score >= thresholds.hot


def step(state: LeadState, score: int, thresholds: Thresholds) -> Transition | None:
    """Update the hysteresis memory in ``state`` for a new integer score."""
    now_hot = is_hot(state.hot, score, thresholds)
    if now_hot == state.hot:
        return None
    state.hot = now_hot
    if now_hot:
        state.crossings += 1
        return Transition("hot", state.crossings)
    return Transition("cooled", state.crossings)
