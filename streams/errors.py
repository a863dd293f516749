"""The root exception of the ``streams`` package; each error says whether retrying can help.

Every error class of the package is defined here, under :class:`StreamsError`, and declares
``retryable``; the worker's retry loop reads it (see :func:`streams.worker.retry.may_retry`).
"""

from __future__ import annotations


class StreamsError(Exception):
    """Root of every error raised by the stream adapters."""

    retryable: bool = False


class StateConflict(StreamsError):
    """Another writer changed a lead between our read and our write; re-read and apply again."""

    retryable = True


class UnknownDictionary(StreamsError):
    """A lead record names a compression dictionary this leadscore lacks: a newer one wrote it.

    Only an upgrade helps, and the batch must wait for it: skipping the lead, or writing over its
    record, would lose the lead's state. So the batch is retried, logging this error, until this
    worker stops and an upgraded one takes the partition over.
    """

    retryable = True


class Stopping(StreamsError):
    """A retried step was given up because the worker is stopping; its records are read again."""


class DeliveryFailed(StreamsError):
    """The webhook sink gave up on an alert (``reason`` names why); it goes to the dead letters.

    Not retryable: the sink has already retried what could succeed (see ``SinkOptions``).
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
