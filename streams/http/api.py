"""The worker's HTTP API, served by Faust's web server on ``LEADSCORE_WEB_PORT``.

- ``POST /events``: one event or a list; valid ones are published, invalid ones reported by index.
  202 when every item was accepted, 422 (with the accepted count) when any was refused; 400 when
  the body is not JSON. Items are judged by the worker's own rules, the future-time limit included
  (:func:`streams.kafka.publisher.validate`), so "accepted" means the worker will score it.
- ``POST /v1/batch``: calls of the common analytics spec (``{"batch": [...]}``), mapped to events
  by :mod:`scoring.analytics` and published like ``POST /events``; refused calls are reported by
  index the same way. ``POST /v1/page``, ``/v1/track``, ``/v1/identify`` and ``/v1/group`` take
  one call each (its ``type`` may be left out).
- ``GET /leads/{lead_id}``: score, grade, explanation and recent history, read from Redis. The id
  is one percent-encoded path segment and may hold any character: aiohttp matches routes on the
  path decoded except for ``%2F`` and ``%25``, and decodes those two in the value it hands over, so
  the route takes any run of characters but ``/`` (braces included) and the view gets the exact id.
- ``GET /accounts/{account_id}``: the account's score per model with an ``accounts`` section,
  its members (the top leads with their scores), explanation and recent history, read from Redis;
  the id travels like a lead id.
- ``GET /healthz``: 200 when Redis answers and the worker runs; 503 when Redis does not answer,
  or when a step has kept failing for ``LEADSCORE_STALL_SECONDS`` (the worker is up but stalled).
- ``GET /metrics``: Prometheus exposition.

Every request passes :mod:`.auth` first: the bearer token when ``LEADSCORE_API_TOKEN`` is
set (``/healthz`` and ``/metrics`` stay open) and the body size limit. Requests aiohttp cannot parse
are refused there too, without repeating them; there is no access log, since paths name leads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import faust
import orjson
from faust.web import Request, Response, View
from faust.web.drivers.aiohttp import Web as AiohttpWeb

from scoring.analytics import track_table
from scoring.model import Model
from streams.http.auth import install
from streams.kafka.publisher import map_calls, validate
from streams.worker import accounts, identity
from streams.worker.processor import score_now

if TYPE_CHECKING:
    from streams.worker.runtime import Runtime

JSON = "application/json"
# aiohttp sets the charset itself and refuses one inside content_type.
PROMETHEUS_TEXT = "text/plain; version=0.0.4"


def expand_history(entry: list[Any], models: Sequence[Model]) -> dict[str, Any]:
    """A stored history entry as the API shows it: one [model, score, grade, hot] per model."""
    at, cause, *values = entry
    changes = [
        [model.name, values[i], values[i + 1], bool(values[i + 2])]
        for i, model in zip(range(0, len(values), 3), models, strict=False)
    ]
    return {"at": at, "cause": cause, "changes": changes}


def _json(view: View, payload: Any, status: int = 200) -> Response:
    return view.bytes(orjson.dumps(payload), content_type=JSON, status=status)


def register(app: faust.App, runtime: Runtime) -> None:
    settings = runtime.settings
    # Faust builds aiohttp's Application when the app is made; its middlewares are open until the
    # server starts, so the check covers every page, the explorer's included.
    install(cast(AiohttpWeb, app.web), settings)

    @app.page("/events")
    class Events(View):
        async def post(self, request: Request) -> Response:
            body = await request.read()
            try:
                parsed = orjson.loads(body)
            except orjson.JSONDecodeError as exc:  # orjson's depth limit (1024) lands here too
                return _json(self, {"error": f"body is not valid JSON ({exc})"}, 400)
            items = parsed if isinstance(parsed, list) else [parsed]
            good, bad = validate(items, settings.max_event_bytes, now=datetime.now(UTC))
            accepted = await (await runtime.publisher()).publish(good) if good else 0
            payload: dict[str, Any] = {"accepted": accepted, "rejected": len(bad)}
            if bad:
                payload["errors"] = [{"index": e.index, "error": e.reason} for e in bad]
            return _json(self, payload, 422 if bad else 202)

    async def publish_calls(view: View, items: list[Any]) -> Response:
        # the table of the models running now: a promotion may have changed it
        table = track_table(runtime.models, settings.track_overrides)
        good, bad, accepted = map_calls(items, table, settings.max_event_bytes)
        if good:
            await (await runtime.publisher()).publish(good)
        payload: dict[str, Any] = {"accepted": accepted, "rejected": len(bad), "events": len(good)}
        if bad:
            payload["errors"] = [{"index": e.index, "error": e.reason} for e in bad]
        return _json(view, payload, 422 if bad else 202)

    @app.page("/v1/batch")
    class AnalyticsBatch(View):
        async def post(self, request: Request) -> Response:
            try:
                parsed = orjson.loads(await request.read())
            except orjson.JSONDecodeError as exc:
                return _json(self, {"error": f"body is not valid JSON ({exc})"}, 400)
            batch = parsed.get("batch") if isinstance(parsed, dict) else None
            if not isinstance(batch, list):
                return _json(self, {"error": "the body must be an object with a batch list"}, 400)
            return await publish_calls(self, batch)

    @app.page("/v1/{call_type:(?:page|track|identify|group)}")
    class AnalyticsCall(View):
        async def post(self, request: Request, call_type: str) -> Response:
            try:
                parsed = orjson.loads(await request.read())
            except orjson.JSONDecodeError as exc:
                return _json(self, {"error": f"body is not valid JSON ({exc})"}, 400)
            if not isinstance(parsed, dict):
                return _json(self, {"error": "the body must be one call, a JSON object"}, 400)
            if parsed.setdefault("type", call_type) != call_type:
                return _json(self, {"error": f"type must be {call_type} on /v1/{call_type}"}, 400)
            return await publish_calls(self, [parsed])

    @app.page("/leads/{lead_id:[^/]+}")
    class Lead(View):
        async def get(self, request: Request, lead_id: str) -> Response:
            stored = (await runtime.store.load([lead_id]))[lead_id]
            if not stored.version:
                return _json(self, {"error": "no such lead"}, 404)
            now = datetime.now(UTC)
            members = await runtime.visitors.load(identity.members(stored))
            scores = score_now(stored, runtime.models, now, members)
            return _json(
                self,
                {
                    "lead_id": lead_id,
                    "scores": [s.to_dict() for s in scores],
                    "history": [expand_history(e, runtime.models) for e in stored.history],
                },
            )

    @app.page("/accounts/{account_id:[^/]+}")
    class Account(View):
        async def get(self, request: Request, account_id: str) -> Response:
            stored = (await runtime.accounts.load([account_id]))[account_id]
            if not stored.version:
                return _json(self, {"error": "no such account"}, 404)
            view = accounts.account_view(stored, runtime.models, datetime.now(UTC))
            return _json(self, view)

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            try:
                await runtime.store.client.ping()
            except Exception as exc:  # any failure means unhealthy; say which
                return _json(self, {"status": "unhealthy", "redis": type(exc).__name__}, 503)
            assigned = runtime.assigned_partitions()
            stalled = runtime.stalled(settings.stall_seconds)
            if stalled is not None:  # up, but scoring nothing: a restart or an operator may help
                what, seconds = stalled
                body = {"status": "stalled", "failing": what, "seconds": round(seconds)}
                return _json(self, {**body, "assigned_partitions": assigned}, 503)
            return _json(self, {"status": "ok", "assigned_partitions": assigned})

    @app.page("/metrics")
    class MetricsView(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(runtime.metrics.exposition(), content_type=PROMETHEUS_TEXT)
