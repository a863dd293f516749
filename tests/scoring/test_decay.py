from __future__ import annotations

import math

import pytest

from scoring import decay
from scoring.model import Decay

DAY = 86400.0


def test_default_decay_loses_15_percent_per_30_days() -> None:
    k = Decay().per_second
    assert decay.factor(k, 30 * DAY) == pytest.approx(0.85, rel=1e-12)
    assert decay.factor(k, 180 * DAY) == pytest.approx(0.85**6, rel=1e-12)
    assert decay.factor(k, 15 * DAY) == pytest.approx(math.sqrt(0.85), rel=1e-12)


def test_configurable_rate_and_no_decay() -> None:
    assert decay.factor(Decay(rate=0.5, period_days=7).per_second, 14 * DAY) == pytest.approx(0.25)
    assert decay.factor(Decay(rate=0).per_second, 1e9) == 1.0


def test_negative_ages_never_grow() -> None:
    assert decay.factor(Decay().per_second, -DAY) == 1.0
    assert decay.value_at(2.0, 100.0, 50.0, Decay().per_second) == 2.0


def test_adding_events_in_any_order_gives_the_same_counter() -> None:
    k = Decay().per_second
    times = [0.0, 10 * DAY, 3 * DAY, 45 * DAY]
    forward = (1.0, times[0])
    for t in times[1:]:
        forward = decay.add(*forward, t, k)
    backward = (1.0, times[-1])
    for t in reversed(times[:-1]):
        backward = decay.add(*backward, t, k)
    at = 60 * DAY
    expected = sum(decay.factor(k, at - t) for t in times)
    assert decay.value_at(*forward, at, k) == pytest.approx(expected, rel=1e-12)
    assert decay.value_at(*backward, at, k) == pytest.approx(expected, rel=1e-12)
    assert forward[1] == backward[1] == 45 * DAY
