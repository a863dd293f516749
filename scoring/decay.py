"""Exponential decay of engagement, kept as order-independent counters.

Each event's points decay from the event's own time: after ``age`` seconds an event is worth
``exp(-k * age)`` of its points, with ``k`` chosen so that ``rate`` is lost every period
(15% per 30 days by default: 0.85 ** (age_days / 30)).

A signal's decayed count is stored as its value at a reference time, the latest event time of that
signal. Adding an event older than the reference adds its decayed weight; a newer one moves the
reference forward. Either way the result is the same sum, so arrival order does not matter, and
the reference stays near the data, so nothing overflows however far from 1970 the events are.
"""

from __future__ import annotations

import math


def factor(k: float, age_seconds: float) -> float:
    """Remaining share after ``age_seconds``; ages below zero (events after ``at``) count as 0."""
    if age_seconds <= 0.0 or k == 0.0:
        return 1.0
    return math.exp(-k * age_seconds)


def add(value: float, ref: float, t: float, k: float) -> tuple[float, float]:
    """Add one event at time ``t`` to a decayed count ``value`` held at reference time ``ref``."""
    if t <= ref:
        return value + factor(k, ref - t), ref
    return value * factor(k, t - ref) + 1.0, t


def value_at(value: float, ref: float, at: float, k: float) -> float:
    """The decayed count at time ``at`` (never grown: ``at`` before ``ref`` counts as ``ref``)."""
    return value * factor(k, at - ref)
