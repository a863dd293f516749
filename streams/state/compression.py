"""Compressing lead records with a zstd dictionary that ships with leadscore.

A lead record is a few hundred bytes, too small for a compressor to learn anything from the record
alone. A dictionary trained on many records supplies what they share (field names, event types,
grade letters, the shape of the JSON) so each record pays only for what is its own: the records of
the default benchmark data shrink to less than half, at a few microseconds per record.

A dictionary is frozen once released: records written with it must stay readable, so a better
dictionary gets a new id and the old file stays. Every compressed body names its dictionary.
``ops/train-dictionary`` makes a new one from simulated leads.
"""

from __future__ import annotations

import functools
from importlib import resources

import zstandard

from streams.errors import UnknownDictionary

MARK = 0  # first body byte of a compressed record; a raw record starts with its model count (>= 1)
CURRENT = 1  # the dictionary new records are written with
LEVEL = 3  # above 3 zstd gains a few bytes per record at several times the time


@functools.cache
def _dictionary(dict_id: int) -> zstandard.ZstdCompressionDict:
    path = resources.files("streams.state").joinpath(f"dictionaries/lead-{dict_id}.zdict")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnknownDictionary(
            f"lead record compressed with dictionary {dict_id}, which this leadscore lacks"
        ) from None
    return zstandard.ZstdCompressionDict(data)


@functools.cache
def _compressor() -> zstandard.ZstdCompressor:
    return zstandard.ZstdCompressor(
        level=LEVEL,
        dict_data=_dictionary(CURRENT),
        write_checksum=False,
        write_dict_id=False,  # the mark's next byte names it
        write_content_size=True,
    )


@functools.cache
def _decompressor(dict_id: int) -> zstandard.ZstdDecompressor:
    return zstandard.ZstdDecompressor(dict_data=_dictionary(dict_id))


def compress(body: bytes) -> bytes:
    """``body`` compressed, behind the mark and the id of the dictionary used."""
    return bytes((MARK, CURRENT)) + _compressor().compress(body)


def decompress(data: bytes | memoryview) -> bytes:
    """The body :func:`compress` was given; raw bodies (no mark) pass unchanged."""
    if not data or data[0] != MARK:
        return bytes(data)
    return _decompressor(data[1]).decompress(data[2:])


def train(samples: list[bytes | bytearray | memoryview], size: int = 8192) -> bytes:
    """A dictionary of ``size`` bytes learnt from raw record bodies."""
    return zstandard.train_dictionary(size, samples, level=LEVEL, threads=1).as_bytes()
