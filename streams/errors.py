"""The root exception of the ``streams`` package; each error says whether retrying can help."""

from __future__ import annotations


class StreamsError(Exception):
    """Root of every error raised by the stream adapters."""

    retryable: bool = False


class StateConflict(StreamsError):
    """Another writer changed a lead between our read and our write; re-read and apply again."""

    retryable = True


class UnknownDictionary(StreamsError):
    """A lead record names a compression dictionary this leadscore lacks: a newer one wrote it.

    Only an upgrade helps. The worker still retries its batch, logging this error, rather than
    skip the lead: writing over the record would lose the lead's state.
    """


class Stopping(StreamsError):
    """A retried step was given up because the worker is stopping; its records are read again."""
