"""Hot-lead thresholds with hysteresis.

A lead becomes hot when its score reaches the hot threshold. It stays hot until the score drops
below the lower re-arm level, so a score wobbling around the threshold raises one alert, not many.
Only after cooling can the lead cross again, and each crossing is numbered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from scoring.model import Model, Thresholds
from scoring.state import LeadState

if TYPE_CHECKING:
    from scoring.engine import Score


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


def update_hot(state: LeadState, score: Score, model: Model) -> Transition | None:
    """Record ``score`` in the hysteresis memory of ``state``; returns the transition, if any.

    ``score`` must come from :func:`scoring.engine.evaluate` on the same state and model.
    """
    return step(state, score.score, model.thresholds)
