"""Explanations: which rules fired and what each contributed, in whole points summing to the score.

Sales only trusts a number it can read, so every score lists its parts. Rule contributions are
fractional (decay, group caps), so they are rounded with the largest-remainder method: each part
is rounded down, and the missing points go to the parts with the largest fractions. The integer
parts then add up to the integer score exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

# "identity" and "note" lines carry no points: which anonymous visitors count toward a lead, how
# many engaged contacts an account has.
ContributionKind = Literal["base", "fit", "engagement", "adjustment", "identity", "note"]


class Contribution(NamedTuple):
    """One line of an explanation: a rule (or a cap or clamp) and the points it adds.

    Immutable; a named tuple rather than a dataclass because scores are built by the million.
    """

    rule: str
    kind: ContributionKind
    points: int
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "kind": self.kind, "points": self.points, "detail": self.detail}


class Part(NamedTuple):
    """A contribution before rounding."""

    rule: str
    kind: ContributionKind
    points: float
    detail: str


def largest_remainder(values: Sequence[float], total: int) -> list[int]:
    """Integers close to ``values`` summing to ``total`` (a rounding of their sum)."""
    cleaned = [round(v, 6) for v in values]
    floors = [math.floor(v) for v in cleaned]
    missing = total - sum(floors)
    result = list(floors)
    if missing == 0:
        return result
    order = sorted(range(len(values)), key=lambda i: (floors[i] - cleaned[i], i))
    if missing > 0:
        for i in order[:missing]:
            result[i] += 1
    else:  # only reachable if total is not a rounding of the sum; keep the invariant anyway
        for i in order[::-1][:-missing]:
            result[i] -= 1
    return result


def explain(parts: Sequence[Part], score: int) -> tuple[Contribution, ...]:
    """Round the parts so that their points add up to ``score``."""
    points = largest_remainder([p.points for p in parts], score)
    return tuple(
        Contribution(rule, kind, n, detail)
        for (rule, kind, _, detail), n in zip(parts, points, strict=True)
    )
