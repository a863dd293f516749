"""The root exception of the ``streams`` package; each error says whether retrying can help."""

from __future__ import annotations


class StreamsError(Exception):
    """Root of every error raised by the stream adapters."""

    retryable: bool = False


class StateConflict(StreamsError):
    """Another writer changed a lead between our read and our write; re-read and apply again."""

    retryable = True
