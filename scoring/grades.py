"""Grades: a fit letter and an engagement digit, so "A3" (right person, quiet) reads differently
from "C1" (busy, wrong person) even when the totals are equal."""

from __future__ import annotations

from collections.abc import Sequence

from scoring.model import GradeBand, Grades


def band(value: float, bands: Sequence[GradeBand]) -> str:
    """The first band whose min the value reaches; the last band catches everything else."""
    for b in bands:
        if b.min is None or value >= b.min - 1e-9:
            return b.name
    return bands[-1].name


def grade(fit: float, engagement: float, grades: Grades) -> tuple[str, str]:
    """The fit grade and the engagement grade; the combined grade is their concatenation."""
    return band(fit, grades.fit), band(engagement, grades.engagement)
