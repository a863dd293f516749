"""Generated input for the hostile-input tests: bytes, JSON, near-valid events, odd times.

Shared by the decoder's property tests and the fuzz run against a real worker, so both try the
same kinds of input.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

VALID = {
    "event_id": "e-1",
    "lead_id": "l-1",
    "type": "page_view",
    "occurred_at": "2026-11-30T10:00:00Z",
    "properties": {"path": "/pricing"},
}

json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def rfc3339_at_the_edges(draw: st.DrawFn) -> str:
    """Well-formed RFC 3339 text anywhere on the calendar, in any zone, in any spelling."""
    # The first and last moments of the calendar, where a zone offset overflows, come often.
    edge = draw(st.booleans())
    year = draw(st.sampled_from([1, 9999]) if edge else st.integers(1, 9999))
    month = draw(st.sampled_from([1, 12]) if edge else st.integers(1, 12))
    day = draw(st.sampled_from([1, 31]) if edge else st.integers(1, 31))  # 31 February is RFC
    hour = draw(st.sampled_from([0, 23]) if edge else st.integers(0, 24))  # 3339's shape, too
    minute = draw(st.integers(0, 59))
    second = draw(st.integers(0, 60))
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".123456789"]))
    sign = draw(st.sampled_from("+-"))
    zone = draw(
        st.one_of(
            st.sampled_from(["Z", "z", "+00:00", "-00:00"]),
            st.tuples(st.integers(0, 24), st.integers(0, 59)).map(
                lambda hm: f"{sign}{hm[0]:02d}:{hm[1]:02d}"
            ),
        )
    )
    separator = draw(st.sampled_from("Tt "))
    return (
        f"{year:04d}-{month:02d}-{day:02d}{separator}"
        f"{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
    )


near_rfc3339 = st.one_of(
    st.sampled_from(
        [
            "2026-W49-2T10:00:00Z",  # ISO 8601 week date
            "2026-12-01T10:00:00.Z",  # a dot without digits
            "20261201T100000Z",  # ISO 8601 basic format
            "2026-12-01T10:00Z",  # no seconds
            "2026-12-01T10:00:00+0530",  # offset without a colon
            "2026-12-01T10:00:00+05:30:15",  # offset with seconds
            "2026-335T10:00:00Z",  # ordinal date
            "2026-12-01T10:00:00",  # no zone
            "\uff12\uff10\uff12\uff16-12-01T10:00:00Z",  # full-width digits
        ]
    ),
    rfc3339_at_the_edges().flatmap(
        lambda t: st.integers(0, len(t) - 1).map(lambda i: t[:i] + t[i + 1 :])
    ),
    st.text(max_size=40),
)

fields = st.sampled_from(["event_id", "lead_id", "type", "occurred_at", "account_id", "properties"])
near_valid = st.one_of(
    st.tuples(fields, json_value).map(lambda fv: {**VALID, fv[0]: fv[1]}),
    fields.map(lambda f: {k: v for k, v in VALID.items() if k != f}),
    st.one_of(rfc3339_at_the_edges(), near_rfc3339).map(lambda t: {**VALID, "occurred_at": t}),
    st.dictionaries(st.text(max_size=10), json_value, max_size=3).map(
        lambda p: {**VALID, "properties": {**VALID["properties"], **p}}
    ),
    st.dictionaries(st.text(max_size=12), json_value, max_size=3).map(lambda x: {**VALID, **x}),
)

message = st.one_of(
    st.binary(max_size=300),
    json_value.map(orjson.dumps),
    near_valid.map(orjson.dumps),
    st.integers(1, 5000).map(lambda d: b"[" * d + b"]" * d),
    st.integers(1, 400).map(
        lambda d: orjson.dumps({**VALID, "event_id": "x"}).replace(b'"x"', b"[" * d + b"]" * d)
    ),
)


T = TypeVar("T")


def generate(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` examples drawn from ``strategy``, for tests that send them somewhere real."""
    found: list[T] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(item: Any) -> None:
        found.append(item)

    while len(found) < count:
        collect()
    return found[:count]
