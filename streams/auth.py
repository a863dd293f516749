"""Bearer-token authentication and a request size limit for the worker's HTTP API.

Both are one aiohttp middleware on the application under Faust's web server, so every view is
covered without each one remembering to check.

- With ``LEADSCORE_API_TOKEN`` set, every path except :data:`OPEN_PATHS` needs
  ``Authorization: Bearer <token>``; otherwise 401 with ``WWW-Authenticate: Bearer``. The answer
  never repeats what the client presented, and nothing here logs it.
- ``/healthz`` and ``/metrics`` stay open: load balancers, orchestrators' probes and Prometheus
  rarely carry tokens, and neither answer holds personal data (metric labels never name a lead).
- The explorer's page and its static assets stay open too: they are the same bytes for everyone
  and hold no data; the data they fetch is protected like the rest of the API.
- Bodies larger than ``LEADSCORE_MAX_REQUEST_BYTES`` get 413 before they are read: at once when
  Content-Length says so, and from aiohttp itself while reading a chunked body.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from streams.settings import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

OPEN_PATHS = frozenset({"/healthz", "/metrics", "/explorer"})
OPEN_PREFIXES = ("/explorer/",)
UNAUTHORIZED = "a valid bearer token is required: Authorization: Bearer <LEADSCORE_API_TOKEN>"


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps({"error": message}),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def is_open(path: str) -> bool:
    """Paths served without a token."""
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def token_matches(header: str | None, expected: bytes | None) -> bool:
    """Whether an ``Authorization`` header carries the token, compared in constant time."""
    if not header or expected is None:
        return False
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), expected)


def security_middleware(settings: Settings) -> Middleware:
    """The middleware enforcing the token (when one is set) and the body size limit."""
    expected = settings.api_token.get_secret_value().encode() if settings.api_token else None
    limit = settings.max_request_bytes

    @web.middleware
    async def secure(request: web.Request, handler: Handler) -> web.StreamResponse:
        needs_token = expected is not None and not is_open(request.path)
        if needs_token and not token_matches(request.headers.get("Authorization"), expected):
            return _error(401, UNAUTHORIZED, {"WWW-Authenticate": 'Bearer realm="leadscore"'})
        length = request.content_length
        if length is not None and length > limit:
            return _error(413, f"request body is {length} bytes; the limit is {limit}")
        if request.can_read_body:
            # Covers bodies without Content-Length: aiohttp answers 413 once `limit` is passed.
            request = request.clone(client_max_size=limit)
        return await handler(request)

    return secure


def install(web_app: web.Application, settings: Settings) -> None:
    """Add the middleware; must run before the web server starts (middlewares freeze then)."""
    web_app.middlewares.append(security_middleware(settings))
