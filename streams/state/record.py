"""The bytes of one lead in Redis.

A lead is one Redis string, not a hash: a hash whose values exceed Redis's small-value limit is
stored as a full hash table, several times the size of the data. The layout is

    <version>\\n  then the body, compressed with a shared dictionary (``streams.state.compression``)

and the body is, per model:  u8 name length, name, u8 summary length, summary,
                             u32 state length, state (see ``scoring.state``)
                 then:       u32 history length, history (JSON list, newest first)
                 then, only when there are any: u32 length, identity links (JSON object; see
                 ``streams.worker.identity``). Records written before links existed end earlier
                 and read as having none.
                 then, only when there is any: u32 length, account data (JSON object: a lead's
                 ``membership``, an account's ``group``; see ``streams.worker.accounts``), after
                 a links section that may be empty (length 0).

The version leads so that the compare-and-set script can read it without decoding the rest.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import orjson

from scoring.state import LeadState
from streams.state import compression

_U8 = struct.Struct(">B")
_U32 = struct.Struct(">I")


@dataclass(slots=True)
class StoredLead:
    """A lead as read from Redis: enough to apply events and write back with compare-and-set."""

    lead_id: str
    version: int  # 0 when the lead is new
    states: dict[str, LeadState] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)
    history: list[Any] = field(default_factory=list)
    outbox: list[list[Any]] = field(default_factory=list)
    # A lead: the anonymous visitors counted toward it. A visitor: its identifications.
    links: dict[str, list[Any]] = field(default_factory=dict)
    # A lead (or visitor): its account, its latest event time, what it last told its account.
    membership: dict[str, Any] = field(default_factory=dict)
    # An account: its members' summaries and hysteresis per model (streams.worker.accounts).
    group: dict[str, Any] = field(default_factory=dict)

    def state(self, model: str) -> LeadState:
        found = self.states.get(model)
        if found is None:
            found = self.states[model] = LeadState.new(self.lead_id)
        return found


def encode(lead: StoredLead, version: int) -> bytes:
    """The record of ``lead`` stamped with ``version``."""
    return b"%d\n" % version + compression.compress(body(lead))


def body(lead: StoredLead) -> bytes:
    """The record's body before compression."""
    parts = [_U8.pack(len(lead.states))]
    for model, state in lead.states.items():
        name = model.encode()
        summary = lead.summaries.get(model, "").encode()
        body = state.to_bytes()
        parts += [_U8.pack(len(name)), name, _U8.pack(len(summary)), summary]
        parts += [_U32.pack(len(body)), body]
    history = orjson.dumps(lead.history) if lead.history else b""
    parts += [_U32.pack(len(history)), history]
    if lead.links or lead.membership or lead.group:
        links = orjson.dumps(lead.links) if lead.links else b""
        parts += [_U32.pack(len(links)), links]
    if lead.membership or lead.group:
        doc: dict[str, Any] = {}
        if lead.membership:
            doc["m"] = lead.membership
        if lead.group:
            doc["g"] = lead.group
        extra = orjson.dumps(doc)
        parts += [_U32.pack(len(extra)), extra]
    return b"".join(parts)


def decode(lead_id: str, data: bytes | None, outbox: bytes | None = None) -> StoredLead:
    """The inverse of :func:`encode`; ``None`` is a lead never seen."""
    pending = orjson.loads(outbox) if outbox else []
    if not data:
        return StoredLead(lead_id, 0, outbox=pending)
    newline = data.index(b"\n")
    lead = StoredLead(lead_id, int(data[:newline]), outbox=pending)
    data = compression.decompress(memoryview(data)[newline + 1 :])
    (models,) = _U8.unpack_from(data)
    pos = 1
    for _ in range(models):
        (size,) = _U8.unpack_from(data, pos)
        name = data[pos + 1 : pos + 1 + size].decode()
        pos += 1 + size
        (size,) = _U8.unpack_from(data, pos)
        lead.summaries[name] = data[pos + 1 : pos + 1 + size].decode()
        pos += 1 + size
        (size,) = _U32.unpack_from(data, pos)
        lead.states[name] = LeadState.from_bytes(data[pos + 4 : pos + 4 + size], lead_id)
        pos += 4 + size
    (size,) = _U32.unpack_from(data, pos)
    if size:
        lead.history = orjson.loads(data[pos + 4 : pos + 4 + size])
    pos += 4 + size
    if pos < len(data):
        (size,) = _U32.unpack_from(data, pos)
        if size:
            lead.links = orjson.loads(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    if pos < len(data):
        (size,) = _U32.unpack_from(data, pos)
        doc = orjson.loads(data[pos + 4 : pos + 4 + size])
        lead.membership = doc.get("m", {})
        lead.group = doc.get("g", {})
    return lead
