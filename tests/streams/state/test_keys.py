"""Lead ids are ids whatever their characters: each names its own keys, in one hash slot.

A brace in an id used to end the hash tag early, so a lead's record and outbox fell into two Redis
Cluster slots and the worker crashed on every restart. Generated ids (Hypothesis) cover the
characters no list of cases would think of.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from scoring.events import MAX_ID_LENGTH
from streams.observability.metrics import Metrics
from streams.state.keys import CHECKPOINT_GROUPS, Keys, checkpoint_slots, checkpoint_tags
from streams.state.redis_store import RedisLeadStore, connect

KEYS = Keys("ls")
ids = st.one_of(
    st.text(min_size=1, max_size=MAX_ID_LENGTH),
    st.text(alphabet="{}%~*?[]\\ab/", min_size=1, max_size=12),
    st.sampled_from(["}x", "{a}", "{", "}", "{}", "%7D", "x}~", "a/b", "é", "x@example.org"]),
)


def _slot(key: str) -> int:
    return int(key_slot(key.encode()))


@settings(max_examples=800, deadline=None)
@given(ids)
def test_a_lead_keys_share_one_slot_and_name_the_lead(lead_id: str) -> None:
    lead, outbox = KEYS.lead(lead_id), KEYS.outbox(lead_id)
    assert _slot(lead) == _slot(outbox)
    assert KEYS.lead_id_of(lead) == lead_id
    assert KEYS.lead_id_of(lead.encode()) == lead_id
    assert KEYS.lead_id_of(outbox) is None  # only lead keys name leads


@settings(max_examples=800, deadline=None)
@given(ids, ids)
def test_two_ids_never_share_a_key(first: str, second: str) -> None:
    if first != second:
        assert KEYS.lead(first) != KEYS.lead(second)
        assert KEYS.outbox(first) != KEYS.outbox(second)


def test_ids_without_braces_keep_the_names_they_always_had() -> None:
    assert KEYS.lead("lead-1") == "ls:lead:{lead-1}"
    assert KEYS.outbox("50% off") == "ls:out:{50% off}"
    assert KEYS.lead("}x") == "ls:lead:{%7Dx}~"


@pytest.fixture
async def client(redis_url: str, unique: str) -> AsyncIterator[aioredis.Redis]:
    redis = connect(redis_url)
    yield redis
    found = [k async for k in redis.scan_iter(match=f"k-{unique}:*")]
    if found:
        await redis.delete(*found)
    await redis.aclose()


ODD = [
    "}x",
    "{a}",
    "{",
    "{}b",
    "plain",
    "pl*in",
    "pl?",
    "[x]",
    "back\\slash",
    "50% off",
    "%7Dx",
    "é}",
]


@pytest.mark.integration
async def test_every_stored_id_is_found_again_by_scan(client: aioredis.Redis, unique: str) -> None:
    store = RedisLeadStore(client, Keys(f"k-{unique}"), 5, Metrics())
    for lead_id in ODD:
        await client.set(store.keys.lead(lead_id), b"x")
        await client.set(store.keys.outbox(lead_id), b"[]")
    assert sorted({i async for i in store.lead_ids()}) == sorted(ODD)
    for lead_id in ODD:  # every prefix of every id finds exactly the ids that start with it
        for cut in range(1, len(lead_id) + 1):
            prefix = lead_id[:cut]
            found: set[str] = set()
            for pattern in store.keys.lead_patterns(prefix):
                async for key in client.scan_iter(match=pattern):
                    lead_id_found = store.keys.lead_id_of(key)
                    assert lead_id_found is not None
                    found.add(lead_id_found)
            assert found == {i for i in ODD if i.startswith(prefix)}, prefix


def test_each_checkpoint_group_lives_in_its_own_range_of_slots() -> None:
    width = 16384 // CHECKPOINT_GROUPS
    slots = [key_slot(KEYS.group_offsets(g).encode()) for g in range(CHECKPOINT_GROUPS)]
    assert [slot // width for slot in slots] == list(range(CHECKPOINT_GROUPS))
    assert list(checkpoint_slots()) == slots
    assert len(set(checkpoint_tags())) == CHECKPOINT_GROUPS
    assert all(KEYS.lead_id_of(KEYS.group_offsets(g)) is None for g in range(CHECKPOINT_GROUPS))
