"""Bearer-token authentication, a request size limit and quiet refusals for the worker's HTTP API.

The token and the size limit are one aiohttp middleware on the application under Faust's web server,
so every view is covered without each one remembering to check.

- With ``LEADSCORE_API_TOKEN`` set, every path except :data:`OPEN_PATHS` needs
  ``Authorization: Bearer <token>``; otherwise 401 with ``WWW-Authenticate: Bearer``. The answer
  never repeats what the client presented, and nothing here logs it.
- ``/healthz`` and ``/metrics`` stay open: load balancers, orchestrators' probes and Prometheus
  rarely carry tokens, and neither answer holds personal data (metric labels never name a lead).
- The explorer's page and its static assets stay open too: they are the same bytes for everyone
  and hold no data; the data they fetch is protected like the rest of the API.
- Bodies larger than ``LEADSCORE_MAX_REQUEST_BYTES`` get 413 before they are read: at once when
  Content-Length says so, and from aiohttp itself while reading a chunked body.
- Requests aiohttp cannot parse (a header past its length limit, a body longer than its
  Content-Length read as a second request, a method that is not one) never reach a middleware:
  aiohttp answers them itself, and by default repeats the offending bytes in the answer and in an
  ERROR log line with a traceback. Those bytes may be the token or a body full of e-mail
  addresses, so :class:`GuardedRunner` replaces the server Faust would start with one whose
  answers say what was wrong in general terms (:func:`refusal`) and whose log lines carry only
  the error class and status; a failing view is logged by class and place, not by message.
- There is no access log (Faust starts aiohttp without one, and so does :class:`GuardedRunner`): a
  path names a lead, and a lead id is often an e-mail address. Request counts and latencies are
  in ``/metrics``.
"""

from __future__ import annotations

import hmac
import logging
import traceback
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING

import orjson
from aiohttp import http_exceptions, web
from aiohttp.typedefs import Middleware

from streams.settings import Settings

if TYPE_CHECKING:
    from faust.web.drivers.aiohttp import Web as AiohttpWeb

log = logging.getLogger("leadscore.http")

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


# Most specific first: the first class an error is an instance of gives the answer.
_REFUSALS: tuple[tuple[type[BaseException], HTTPStatus, str], ...] = (
    (http_exceptions.LineTooLong, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
     "request line or header too long"),
    (http_exceptions.BadHttpMethod, HTTPStatus.BAD_REQUEST, "not an HTTP method"),
    (http_exceptions.BadStatusLine, HTTPStatus.BAD_REQUEST, "malformed request line"),
    (http_exceptions.InvalidHeader, HTTPStatus.BAD_REQUEST, "malformed header"),
    (http_exceptions.InvalidURLError, HTTPStatus.BAD_REQUEST, "malformed URL"),
    (http_exceptions.PayloadEncodingError, HTTPStatus.BAD_REQUEST,
     "request body does not match its framing (Content-Length, Transfer-Encoding)"),
    (web.RequestPayloadError, HTTPStatus.BAD_REQUEST, "request body could not be read"),
    (http_exceptions.HttpProcessingError, HTTPStatus.BAD_REQUEST, "malformed HTTP request"),
)  # fmt: skip


def refusal(status: int, exc: BaseException | None) -> tuple[int, str]:
    """The status and the general message of an answer to a request that failed before or inside a
    view; nothing in it comes from the request."""
    for kind, answer, message in _REFUSALS:
        if isinstance(exc, kind):
            return answer.value, message
    if status == HTTPStatus.GATEWAY_TIMEOUT:
        return status, "the request took too long"
    return HTTPStatus.INTERNAL_SERVER_ERROR.value, "internal error"


def _where(exc: BaseException | None) -> str:
    """File and line where an error was raised: enough to find a bug without its message."""
    frames = traceback.extract_tb(exc.__traceback__) if exc is not None else []
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "unknown place"


class QuietRequestHandler(web.RequestHandler):
    """aiohttp's per-connection handler with answers and log lines that never repeat the request."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        status, text = refusal(status, exc)
        kind = type(exc).__name__ if exc is not None else "no exception"
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            log.error("request failed with %d: %s raised at %s", status, kind, _where(exc))
        else:
            log.info("refused a malformed request with %d: %s", status, kind)
        if request.writer.output_size > 0:
            # part of an answer went out already; a second one cannot follow on this connection
            raise ConnectionError("the answer had started; closing the connection")
        answer = _error(status, text)
        answer.force_close()
        return answer


class GuardedServer(web.Server):
    """aiohttp's server, making :class:`QuietRequestHandler` connections."""

    def __call__(self) -> web.RequestHandler:
        return QuietRequestHandler(self, loop=self._loop, **self._kwargs)


class GuardedRunner(web.AppRunner):
    """An application runner serving through :class:`GuardedServer`, without an access log."""

    def __init__(self, app: web.Application) -> None:
        super().__init__(app, access_log=None)

    async def _make_server(self) -> web.Server:
        # The application builds its server (and freezes itself) as usual; the guarded one takes
        # over the same request handler, request factory and options.
        made = await super()._make_server()
        return GuardedServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **made._kwargs,
        )


def install(driver: AiohttpWeb, settings: Settings) -> None:
    """Add the middleware and the guarded runner; must run before the web server starts
    (middlewares freeze then, and the runner is set up then)."""
    driver.web_app.middlewares.append(security_middleware(settings))
    # Faust makes its AppRunner when the app is made and has no option for the request handler.
    driver._runner = GuardedRunner(driver.web_app)
