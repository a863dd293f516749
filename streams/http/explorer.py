"""The lead explorer: a small page served by the worker for sales-ops analysts.

- ``GET /``: redirects to the explorer, so the address ``ops/run`` prints opens something useful
  (Faust's own answer there is ``{"status": "OK"}``, which tells a newcomer nothing).
- ``GET /explorer``: the page (plain HTML, CSS and JS from ``streams/http/static``, no build).
- ``GET /events/hot``: server-sent events, one ``alert`` event per routing event on ``leads.hot``
  and on ``accounts.hot`` (an account's rows carry ``account_id``), in alert time; a new
  connection first gets the most recent ones, so a page opened late is not empty.
- ``GET /leads?prefix=P&limit=N``: leads whose id starts with ``P``, with their current score.
- The lead view reads the existing ``GET /leads/{lead_id}``, the account view
  ``GET /accounts/{account_id}`` (members with their scores, the buying group over time).

The feed reads ``leads.hot`` and ``accounts.hot`` with its own consumer outside any group (it must
see every partition and must not take partitions from the scoring agent), started when the first
browser connects.
Search walks Redis with SCAN over the lead key pattern and stops at a bounded amount of work:
good enough for an explorer, not an index.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from datetime import UTC, datetime
from importlib.resources import files
from typing import TYPE_CHECKING, Any, cast

import orjson
from aiohttp import web
from aiokafka.errors import KafkaError
from faust.web import Request, Response, View
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from streams.kafka.clients import kafka_admin, kafka_consumer
from streams.observability.lag import partitions
from streams.settings import Settings
from streams.worker.processor import score_now

if TYPE_CHECKING:
    import faust

    from streams.worker.runtime import Runtime

log = logging.getLogger("leadscore.explorer")

RECENT = 50  # alerts replayed to a new browser
REPLAY_SECONDS = 5.0  # at most this long reading the backlog before following new alerts
KEEPALIVE = 15.0  # seconds between SSE comments that keep proxies from closing the stream
SEARCH_LIMIT = 100
SCAN_ROUNDS = 200  # SCAN calls one search may make ...
SCAN_COUNT = 1000  # ... each looking at about this many keys
_ASSETS = {
    "explorer.js": "text/javascript",
    "explorer.css": "text/css",
}


def _scalar(value: Any) -> str | int | float | bool | None:
    """``value`` when it is a JSON scalar; anyone may write to the topic, and a browser row
    needs no nested structure (which could even be too deep to encode again)."""
    return value if value is None or isinstance(value, (str, int, float, bool)) else None


def summarize(alert: dict[str, Any]) -> dict[str, Any]:
    """What a feed row needs, and nothing else from the alert.

    ``reasons`` are the largest positive contributions, the ones that made the lead hot;
    ``penalties`` the largest negative ones, shown apart so a cap or a penalty never reads as a
    reason to call.
    """
    explanation = alert.get("explanation")
    contributions = [
        c
        for c in (explanation if isinstance(explanation, list) else [])
        if isinstance(c, dict) and type(c.get("points", 0)) in (int, float)
    ]
    by_size = sorted(contributions, key=lambda c: -abs(c.get("points", 0)))
    fields = (
        "alert_id",
        "kind",
        "lead_id",
        "account_id",
        "engaged_contacts",
        "score",
        "grade",
        "route",
        "model",
        "emitted_at",
    )

    def rows(keep: Any) -> list[dict[str, Any]]:
        chosen = [c for c in by_size if keep(c.get("points", 0))][:3]
        return [{"rule": _scalar(c.get("rule")), "points": c.get("points")} for c in chosen]

    return {
        **{name: _scalar(alert.get(name)) for name in fields},
        "reasons": rows(lambda p: p > 0),
        "penalties": rows(lambda p: p < 0),
    }


def alert_time(item: dict[str, Any], fallback_ms: int) -> float:
    """When an alert was emitted, in seconds; the record's timestamp when the alert has no
    readable ``emitted_at`` (anyone may write to the topic)."""
    emitted = item.get("emitted_at")
    if isinstance(emitted, str):
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(emitted)
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    return fallback_ms / 1000


class HotFeed:
    """Fans the routing topics (``leads.hot``, ``accounts.hot``) out to every connected browser,
    keeping the last few for newcomers."""

    def __init__(self, settings: Settings, topics: list[str]) -> None:
        self.settings = settings  # its Kafka clients come from streams.kafka.clients
        self.topics = topics
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self._queues: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._task: asyncio.Task[None] | None = None

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="explorer-hot-feed")
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=RECENT * 4)
        for item in self.recent:
            queue.put_nowait(item)
        self._queues.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._queues.discard(queue)

    @property
    def clients(self) -> int:
        return len(self._queues)

    def publish(self, value: bytes) -> None:
        item = self._row(value)
        if item is not None:
            self._fan_out(item)

    @staticmethod
    def _row(value: bytes) -> dict[str, Any] | None:
        try:
            alert = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
        return summarize(alert) if isinstance(alert, dict) else None

    def _fan_out(self, item: dict[str, Any]) -> None:
        self.recent.append(item)
        for queue in self._queues:
            with contextlib.suppress(asyncio.QueueFull):  # a stalled browser misses rows
                queue.put_nowait(item)

    def replay(self, records: list[tuple[bytes, int]]) -> None:
        """Publish a backlog of ``(value, timestamp ms)`` oldest alert first, across partitions.

        A backlog arrives grouped by partition; sorted by alert time, the page's rows come in the
        order the alerts were made, and :data:`recent` holds the latest ones.
        """
        rows = [(row, ms) for value, ms in records if (row := self._row(value)) is not None]
        for row, _ in sorted(rows, key=lambda pair: alert_time(pair[0], pair[1])):
            self._fan_out(row)

    async def _follow(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._consume()
            except (KafkaError, OSError) as exc:
                log.warning("hot feed consumer failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _consume(self) -> None:
        admin = kafka_admin(self.settings)
        await admin.start()
        try:
            tps = await partitions(admin, self.topics)
        finally:
            await admin.close()
        if {tp.topic for tp in tps} != set(self.topics):
            raise KafkaError(f"topics {', '.join(self.topics)} do not all exist yet")
        consumer = kafka_consumer(self.settings, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            for tp in tps:  # replay a little history so the page starts with recent alerts
                consumer.seek(tp, max(starts[tp], ends[tp] - RECENT))
            self.replay(await _backlog(consumer, ends))
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    for record in records:
                        if record.value is not None:
                            self.publish(record.value)
        finally:
            await consumer.stop()

    async def close(self) -> None:
        for queue in list(self._queues):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def _backlog(consumer: Any, ends: dict[Any, int]) -> list[tuple[bytes, int]]:
    """Every record up to the end offsets read at start, or what arrived within REPLAY_SECONDS."""
    records: list[tuple[bytes, int]] = []
    deadline = asyncio.get_running_loop().time() + REPLAY_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        positions = [await consumer.position(tp) for tp in ends]
        if all(at >= end for at, end in zip(positions, ends.values(), strict=True)):
            break
        batch = await consumer.getmany(timeout_ms=200)
        records += [(r.value, int(r.timestamp)) for rs in batch.values() for r in rs if r.value]
    return records


async def search(runtime: Runtime, prefix: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Leads whose id starts with ``prefix``, with the first model's current score, and whether
    the scan finished: on a Redis shared with much else it may stop at its budget first."""
    client = runtime.store.client
    keys = runtime.keys
    found: set[str] = set()
    if prefix and await client.exists(keys.lead(prefix)):
        found.add(prefix)  # an exact id is always found, however large the keyspace
    cursor: int = 0
    patterns = keys.lead_patterns(prefix)
    for pattern in patterns:  # ids with braces are stored encoded, under a pattern of their own
        cursor = 0
        for _ in range(SCAN_ROUNDS // len(patterns)):
            cursor, names = await client.scan(cursor, match=pattern, count=SCAN_COUNT)
            found.update(i for i in map(keys.lead_id_of, names) if i and i.startswith(prefix))
            if cursor == 0 or len(found) >= limit:
                break
        if cursor != 0 or len(found) >= limit:
            break
    complete = cursor == 0
    ids = sorted(found)[:limit]
    if not ids:
        return [], complete
    stored = await runtime.store.load(ids)
    now = datetime.now(UTC)
    rows = []
    for lead_id in ids:
        lead = stored[lead_id]
        if not lead.version:
            continue
        score = score_now(lead, runtime.models, now)[0]
        rows.append(
            {
                "lead_id": lead_id,
                "score": score.score,
                "grade": score.grade,
                "hot": score.hot,
                "route": score.route,
            }
        )
    return rows, complete


def _asset(name: str) -> bytes:
    return (files("streams.http") / "static" / name).read_bytes()


def register_explorer(app: faust.App, runtime: Runtime) -> HotFeed:
    """Add the explorer's pages to the worker's web server."""
    settings = runtime.settings
    feed = HotFeed(settings, [settings.topics.hot, settings.topics.accounts_hot])
    page = _asset("explorer.html")
    assets = {name: (_asset(name), ctype) for name, ctype in _ASSETS.items()}
    gauge = runtime.metrics.explorer_clients
    gauge.set_function(lambda: feed.clients)

    async def front_door(request: web.Request) -> web.StreamResponse:
        # relative, so a proxy that serves the worker under a path prefix keeps it
        raise web.HTTPFound("explorer")

    # Straight on aiohttp's router, now: Faust adds its index at "/" when the server starts, and
    # aiohttp answers with the first route registered for a path.
    cast(AiohttpWeb, app.web).web_app.router.add_get("/", front_door)

    @app.page("/explorer")
    class Explorer(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(page, content_type="text/html")

    @app.page("/explorer/{name}")
    class Asset(View):
        async def get(self, request: Request, name: str) -> Response:
            if name not in assets:
                return self.bytes(b"not found", content_type="text/plain", status=404)
            body, ctype = assets[name]
            return self.bytes(body, content_type=ctype)

    @app.page("/leads")
    class Search(View):
        async def get(self, request: Request) -> Response:
            prefix = request.query.get("prefix", "")
            try:
                limit = max(1, min(int(request.query.get("limit", "20")), SEARCH_LIMIT))
            except ValueError:
                limit = 20
            leads, complete = await search(runtime, prefix, limit)
            payload = {"leads": leads, "complete": complete}
            return self.bytes(orjson.dumps(payload), content_type="application/json")

    @app.page("/events/hot")
    class HotEvents(View):
        async def get(self, request: Request) -> Any:
            stream = web.StreamResponse(
                headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
            )
            await stream.prepare(cast(web.BaseRequest, request))
            queue = feed.subscribe()
            try:
                while True:
                    try:
                        item = await asyncio.wait_for(queue.get(), KEEPALIVE)
                    except TimeoutError:
                        await stream.write(b": keep-alive\n\n")
                        continue
                    if item is None:  # the worker is stopping
                        break
                    await stream.write(b"event: alert\ndata: " + orjson.dumps(item) + b"\n\n")
            except ConnectionResetError:
                pass  # the browser went away
            finally:
                feed.unsubscribe(queue)
            return stream

    async def close_feed(sender: Any, *args: Any, **kwargs: Any) -> None:
        await feed.close()

    app.on_before_shutdown.connect(close_feed)  # type: ignore[arg-type]  # stub wants a union

    return feed
