"""Per-lead state: small, and independent of the rules wherever possible.

The state keeps *signals* (per event type, and per page category for page views) rather than
points per rule, so a model whose points, caps, groups, frequency thresholds, fit rules, grades or
routing change can rescore a lead from its state alone. Only rules whose filter cannot be expressed
by type and category (a path pattern or a property filter) get a signal of their own.

Serialized as a 5-byte header, the raw event-id digests, then orjson with one-letter keys; the
lead id is not repeated inside (whoever stores the state keys it by lead). A lead with about ten
events takes ~200 bytes.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Any

import orjson

DIGEST_SIZE = 8  # bytes of blake2b per event id: collisions need ~4e9 events on one lead
_HEADER = struct.Struct(">BI")  # format version, length of the digest blob
_FORMAT = 1

# attribute -> (value, occurred_at epoch seconds, tie-break from the event id digest)
ProfileEntry = tuple[Any, float, int]


def event_digest(event_id: str) -> bytes:
    """The short fingerprint of an event id used to drop repeated events."""
    return hashlib.blake2b(event_id.encode(), digest_size=DIGEST_SIZE).digest()


# Short codes for the signal keys in serialized state (in memory the keys stay readable).
_CODES = {
    "page_view": "pv",
    "webinar_registered": "wr",
    "webinar_attended": "wa",
    "email_opened": "eo",
    "email_clicked": "ec",
    "email_unsubscribed": "eu",
    "form_submitted": "fs",
    "content_downloaded": "cd",
    "demo_video_watched": "dv",
    "meeting_booked": "mb",
    "product_usage": "pu",
}
_NAMES = {code: name for name, code in _CODES.items()}


def _encode_key(key: str) -> str:
    name, sep, rest = key.partition(":")
    code = _CODES.get(name)
    return f"{code}{sep}{rest}" if code is not None and name != "r" else key


def _decode_key(key: str) -> str:
    code, sep, rest = key.partition(":")
    name = _NAMES.get(code)
    return f"{name}{sep}{rest}" if name is not None else key


def _num(t: float) -> float | int:
    return int(t) if t.is_integer() else t


@dataclass(slots=True)
class LeadState:
    """What the engine remembers about one lead under one model.

    ``signals`` maps a signal key to ``[raw count, decayed count at ref, ref time]``; ``recent``
    keeps, only for models with window rules, each signal's latest event times (ascending, as
    many as the model's windows can count: a bounded list, the same whatever the arrival order);
    ``profile`` holds the latest value of each attribute with the time it was set; ``hot`` and
    ``crossings`` are the hysteresis memory (``crossings`` counts how often the lead became hot).
    """

    lead_id: str
    seen: set[bytes] = field(default_factory=set)
    signals: dict[str, list[float]] = field(default_factory=dict)
    recent: dict[str, list[float]] = field(default_factory=dict)
    profile: dict[str, ProfileEntry] = field(default_factory=dict)
    hot: bool = False
    crossings: int = 0

    @classmethod
    def new(cls, lead_id: str) -> LeadState:
        """An empty state for a lead that has not been seen yet."""
        return cls(lead_id)

    def to_bytes(self) -> bytes:
        """Header, the sorted digests as raw bytes, then compact JSON for the rest."""
        blob = b"".join(sorted(self.seen))
        doc: dict[str, Any] = {}
        if self.signals:
            # signal times are stored relative to the earliest one, which is stored once
            base = int(min(t for _, _, t in self.signals.values()))
            doc["b"] = base
            doc["s"] = {
                _encode_key(k): [int(n), _num(t - base)]
                if v == 1.0
                else [int(n), v, _num(t - base)]
                for k, (n, v, t) in self.signals.items()
            }
        if self.recent:
            base = doc.get("b", 0)
            doc["r"] = {
                _encode_key(k): [_num(t - base) for t in ts] for k, ts in self.recent.items()
            }
        if self.profile:
            stamps: dict[tuple[float, int], dict[str, Any]] = {}
            for name, (value, t, tb) in self.profile.items():
                stamps.setdefault((t, tb), {})[name] = value
            doc["p"] = [[_num(t), tb, attrs] for (t, tb), attrs in stamps.items()]
        if self.hot:
            doc["h"] = 1
        if self.crossings:
            doc["c"] = self.crossings
        return _HEADER.pack(_FORMAT, len(blob)) + blob + orjson.dumps(doc)

    @classmethod
    def from_bytes(cls, data: bytes, lead_id: str) -> LeadState:
        """The inverse of :meth:`to_bytes`, for the lead the bytes were stored under."""
        fmt, size = _HEADER.unpack_from(data)
        if fmt != _FORMAT:
            raise ValueError(f"lead state format {fmt} is not known (expected {_FORMAT})")
        start = _HEADER.size
        blob = data[start : start + size]
        doc = orjson.loads(data[start + size :])
        seen = {blob[i : i + DIGEST_SIZE] for i in range(0, size, DIGEST_SIZE)}
        signals: dict[str, list[float]] = {}
        base = doc.get("b", 0)
        for key, entry in doc.get("s", {}).items():
            n, value, offset = (entry[0], 1.0, entry[1]) if len(entry) == 2 else entry
            signals[_decode_key(key)] = [n, float(value), float(base + offset)]
        recent = {
            _decode_key(key): [float(base + t) for t in ts] for key, ts in doc.get("r", {}).items()
        }
        profile: dict[str, ProfileEntry] = {}
        for t, tb, attrs in doc.get("p", []):
            for name, value in attrs.items():
                profile[name] = (value, float(t), tb)
        return cls(
            lead_id=lead_id,
            seen=seen,
            signals=signals,
            recent=recent,
            profile=profile,
            hot=bool(doc.get("h", 0)),
            crossings=int(doc.get("c", 0)),
        )
