"""The worker retries what says it may, and only that."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError
from redis.exceptions import BusyLoadingError

from scoring.errors import EventValidationError, ModelError, ScoringError
from streams import errors
from streams.worker.retry import may_retry


@pytest.mark.parametrize(
    "error",
    [
        errors.StateConflict("raced"),
        errors.UnknownDictionary("dictionary 250"),
        BusyLoadingError("loading"),
        KafkaConnectionError(),
        ConnectionResetError(),
        TimeoutError(),
    ],
)
def test_retried(error: BaseException) -> None:
    assert may_retry(error)


@pytest.mark.parametrize(
    "error",
    [
        errors.Stopping("batch"),
        errors.DeliveryFailed("webhook-rejected", "HTTP 400"),
        EventValidationError([]),
        ModelError([]),
        ValueError("a bug"),
    ],
)
def test_not_retried(error: BaseException) -> None:
    assert not may_retry(error)


def test_every_error_of_a_package_sits_under_its_root_and_says_if_it_may_be_retried() -> None:
    for root in (errors.StreamsError, ScoringError):
        module = __import__(root.__module__, fromlist=["_"])
        found = [
            v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Exception)
        ]
        assert all(issubclass(cls, root) for cls in found), found
        assert all(isinstance(cls.retryable, bool) for cls in found)
