"""The worker's one rule for what to retry: errors say so themselves.

Errors of leadscore's own packages carry ``retryable`` (:class:`streams.errors.StreamsError`,
:class:`scoring.errors.ScoringError`), and that answer is final. Errors of the clients underneath,
Redis, Kafka and the network, are transient by nature to a worker that must not drop a batch:
Redis restarting answers "loading", a broker moving a leader answers "not leader". Anything else is
a bug and stops the worker loudly rather than spin.
"""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from scoring.errors import ScoringError
from streams.errors import StreamsError

_TRANSPORT = (RedisError, KafkaError, OSError, asyncio.TimeoutError)


def may_retry(error: BaseException) -> bool:
    """Whether trying the same step again could succeed."""
    if isinstance(error, StreamsError | ScoringError):
        return error.retryable
    return isinstance(error, _TRANSPORT)
