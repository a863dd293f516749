"""Lead records compressed with the shipped dictionary: smaller, lossless, and readable forever."""

from __future__ import annotations

import pytest

from streams.state import compression

BODY = b'\x01\x07default\x060|C3|0{"p":[[1,2,{"job_title":"VP Sales","industry":"SaaS"}]]}'
# BODY as compressed when dictionary 1 was released. Records in users' Redis were written like this;
# if this stops decoding, the dictionary file was changed, and those records are lost.
RELEASED = bytes.fromhex(
    "000128b52ffd2048ed0000382c56507d5d5d7d07fc7418c325a515565fd4571cb2cdf1a3ab62fdce"
)


def test_round_trip_names_the_dictionary_and_is_smaller() -> None:
    packed = compression.compress(BODY)
    assert packed[:2] == bytes((compression.MARK, compression.CURRENT))
    assert len(packed) < len(BODY) * 0.7
    assert compression.decompress(packed) == BODY


def test_what_dictionary_1_wrote_reads_back() -> None:
    assert compression.decompress(RELEASED) == BODY


def test_a_raw_body_passes_unchanged() -> None:
    assert compression.decompress(BODY) == BODY
    assert compression.decompress(memoryview(BODY)) == BODY
    assert compression.decompress(b"") == b""


def test_an_unknown_dictionary_is_named() -> None:
    with pytest.raises(compression.UnknownDictionary, match="dictionary 250"):
        compression.decompress(bytes((compression.MARK, 250)) + RELEASED[2:])
