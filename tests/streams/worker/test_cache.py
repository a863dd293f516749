"""The worker's lead cache: what goes in, what comes out, and what it forgets."""

from __future__ import annotations

from streams.state.record import StoredLead
from streams.worker.cache import LeadCache


def leads(*ids: str) -> list[StoredLead]:
    return [StoredLead(i, 1) for i in ids]


def test_a_taken_lead_is_gone_until_kept_again() -> None:
    cache = LeadCache(10)
    cache.keep(leads("a", "b"))
    taken = cache.take(["a", "c"])
    assert list(taken) == ["a"]  # "c" was never cached
    assert cache.take(["a"]) == {}  # in use by a batch: not handed out twice
    cache.keep(taken.values())
    assert list(cache.take(["a"])) == ["a"]


def test_the_least_recently_kept_go_first() -> None:
    cache = LeadCache(2)
    cache.keep(leads("a", "b"))
    cache.keep(leads("a"))  # "a" is fresh again
    cache.keep(leads("c"))
    assert len(cache) == 2
    assert sorted(cache.take(["a", "b", "c"])) == ["a", "c"]


def test_capacity_zero_keeps_nothing_and_clear_forgets_all() -> None:
    off = LeadCache(0)
    off.keep(leads("a"))
    assert len(off) == 0 and off.get("a") is None
    cache = LeadCache(5)
    cache.keep(leads("a", "b"))
    cache.clear()
    assert cache.take(["a", "b"]) == {}
