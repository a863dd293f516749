"""Scoring a file of events offline, split over the CPUs for large inputs (Linux fork).

Each forked worker scores the leads of its share (:func:`scoring.offline.score_lines` with
``part``/``parts``). The job reaches the workers through the pool's initializer, which a forked
process inherits without pickling, and is kept only in the worker: the parent process holds no
job state, so scoring stays reentrant. A file is re-read by each worker (cheap from the page
cache) rather than inherited as a list of lines, because touching inherited objects would copy
every page they live on.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import orjson

from scoring.model import Model
from scoring.offline import score_lines

__all__ = ["PARALLEL_MIN_BYTES", "ScoredLine", "score_source"]

PARALLEL_MIN_BYTES = 4_000_000
MAX_WORKERS = 8

# (lead id, model name, the score as a JSON line)
ScoredLine = tuple[str, str, bytes]
Rejected = list[tuple[int, str]]


@dataclass(frozen=True, slots=True)
class ScoringJob:
    """What every share is scored from: a path (re-read) or the lines themselves (stdin)."""

    source: str | list[bytes]
    models: list[Model]
    when: datetime
    now: datetime

    def size(self) -> int:
        if isinstance(self.source, str):
            return os.path.getsize(self.source)
        return sum(map(len, self.source))

    def score_part(self, part: int, parts: int) -> tuple[list[ScoredLine], Rejected]:
        args = (self.models, self.when, self.now)
        if isinstance(self.source, str):
            with open(self.source, "rb") as handle:
                scores, rejected = score_lines(handle, *args, part=part, parts=parts)
        else:
            scores, rejected = score_lines(self.source, *args, part=part, parts=parts)
        return [(s.lead_id, s.model, orjson.dumps(s.to_dict())) for s in scores], rejected


_worker_job: ScoringJob | None = None  # set only inside a forked worker, by _adopt


def _adopt(job: ScoringJob) -> None:
    global _worker_job
    _worker_job = job


def _score_share(part: int, parts: int) -> tuple[list[ScoredLine], Rejected]:
    assert _worker_job is not None, "runs only in a pool worker started by score_source"
    return _worker_job.score_part(part, parts)


def score_source(
    source: str | list[bytes],
    models: list[Model],
    when: datetime,
    now: datetime,
    parallel_min_bytes: int = PARALLEL_MIN_BYTES,
) -> tuple[list[ScoredLine], Rejected]:
    """Every lead's scores, sorted by lead and model, and the rejected lines (number, reason)."""
    job = ScoringJob(source, models, when, now)
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if (
        workers < 2
        or job.size() < parallel_min_bytes
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        results = [job.score_part(0, 1)]
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_adopt, initargs=(job,)
        ) as pool:
            results = list(pool.map(_score_share, range(workers), [workers] * workers))
    rows = sorted((row for part, _ in results for row in part), key=lambda r: (r[0], r[1]))
    rejected = sorted(item for _, part in results for item in part)
    return rows, rejected
