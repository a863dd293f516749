"""Errors raised by the scoring engine.

Every error carries the full list of problems found, each with a location, so that a producer or a
model author can fix everything in one round trip instead of one problem per attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input: where (a dotted path, possibly with a line number) and why."""

    location: str
    reason: str

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}" if self.location else self.reason


class ScoringError(Exception):
    """Root of all scoring errors.

    ``retryable`` tells a stream worker whether trying the same input again could succeed; every
    error the pure engine raises is about the input itself, so none of them is.
    """

    retryable: bool = False


class _ProblemsError(ScoringError):
    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems) or "invalid input")


class EventValidationError(_ProblemsError):
    """An event does not follow the producers' contract (see ``scoring/README.md``)."""


class ModelError(_ProblemsError):
    """A model file is malformed; ``problems`` lists every issue, not just the first."""


class TimeProblem(ScoringError, ValueError):
    """A time that is not RFC 3339 or cannot be placed on the UTC calendar; says which.

    A ``ValueError`` too, so that pydantic reports it as the field's validation error.
    """
