"""Catch-up throughput of the real worker: ``leadscore worker`` processes draining a backlog.

The backlog is on the topics before the workers start, so they run flat out from their first
batch to their last; progress is read from each one's own ``/metrics`` (valid events plus dead
letters, the records it has handled), which costs it one small HTTP request per poll. Several
workers share one consumer group (:class:`Workers`), as the workers of one deployment do.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from streams.bench.proc import LEADSCORE, Child, child_env, free_port
from streams.bench.timing import Progress

POLL_SECONDS = 0.2
_HANDLED = re.compile(
    r"^leadscore_events_(?:consumed|rejected)_total(?:\{[^}]*\})? ([0-9.e+-]+)$", re.MULTILINE
)


class Worker:
    """A ``leadscore worker`` child with private topics, group, Redis keys and port."""

    def __init__(self, settings: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        env = child_env(
            **settings, LEADSCORE_WEB_PORT=str(self.port), LEADSCORE_LOG_LEVEL="WARNING"
        )
        self.child = Child("worker", [*LEADSCORE, "worker"], env, workdir)

    def _get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as resp:
            body: bytes = resp.read()
            return body

    async def get(self, path: str) -> bytes:
        return await asyncio.to_thread(self._get, path)

    async def handled(self) -> int:
        """Records the worker has taken in so far (0 while its HTTP API is not up)."""
        try:
            text = (await self.get("/metrics")).decode()
        except OSError:
            return 0
        return int(sum(float(v) for v in _HANDLED.findall(text)))

    async def wait_ready(self, limit: float) -> float:
        """Until the consumer holds partitions; returns the time it was first seen ready."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            self.child.check()
            try:
                health = orjson.loads(await self.get("/healthz"))
                if health.get("assigned_partitions", 0) > 0:
                    return time.time()
            except (OSError, ValueError):
                pass
            await asyncio.sleep(POLL_SECONDS)
        raise TimeoutError(f"worker not ready in {limit}s:\n{self.child.tail()}")

    async def wait_handled(
        self,
        total: int,
        started_at: float,
        limit: float,
        progress: Callable[[int], None] | None = None,
    ) -> Progress:
        """Poll ``/metrics`` until ``total`` records were handled, noting the first progress."""
        return await Workers([self]).wait_handled(total, started_at, limit, progress)


@dataclass(frozen=True, slots=True)
class Workers:
    """Workers of one deployment (one consumer group), read as one."""

    members: Sequence[Worker]

    async def handled(self) -> int:
        return sum(await asyncio.gather(*(w.handled() for w in self.members)))

    async def each_handled(self) -> list[int]:
        return list(await asyncio.gather(*(w.handled() for w in self.members)))

    def check(self) -> None:
        for worker in self.members:
            worker.child.check()

    async def wait_handled(
        self,
        total: int,
        started_at: float,
        limit: float,
        progress: Callable[[int], None] | None = None,
    ) -> Progress:
        """Poll until the workers together handled ``total`` records, noting the first progress."""
        first_at, first_count = 0.0, 0
        deadline = time.monotonic() + limit
        while True:
            self.check()
            count = await self.handled()
            now = time.time()
            if count and not first_at:
                first_at, first_count = now, count
            if progress:
                progress(min(count, total))
            if count >= total:
                return Progress(total, started_at, first_at, first_count, now)
            if time.monotonic() > deadline:
                tails = "\n---\n".join(w.child.tail() for w in self.members)
                raise TimeoutError(f"workers handled {count} of {total} in {limit}s:\n{tails}")
            await asyncio.sleep(POLL_SECONDS)
