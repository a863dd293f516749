from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from scoring.explain import Part, explain, largest_remainder


def test_largest_remainder_gives_missing_points_to_the_largest_fractions() -> None:
    assert largest_remainder([16.0, 4.0], 20) == [16, 4]
    assert largest_remainder([19.6, 19.6, 5.8], 45) == [20, 19, 6]
    assert largest_remainder([33.4, 33.3, 33.3], 100) == [34, 33, 33]
    assert largest_remainder([10.0, -2.5, -2.5], 5) == [10, -2, -3]


@given(st.lists(st.floats(-60, 60, allow_nan=False), max_size=12))
def test_rounded_parts_sum_to_the_rounded_total(values: list[float]) -> None:
    total = round(sum(values))
    parts = largest_remainder(values, total)
    assert sum(parts) == total
    assert all(abs(p - v) < 1 + 1e-6 for p, v in zip(parts, values, strict=True))


def test_explain_keeps_order_and_kinds() -> None:
    lines = explain([Part("a", "fit", 20.0, "x"), Part("b", "engagement", 4.99, "y")], 25)
    assert [(c.rule, c.kind, c.points) for c in lines] == [("a", "fit", 20), ("b", "engagement", 5)]
