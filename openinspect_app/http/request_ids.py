"""Request ids: every HTTP request of the web process gets one, and every line logged for it names it.

The outermost middleware (so refusals by the host, CORS, body and credential checks
carry one too): it takes the client's ``X-Request-Id`` when it is a usable id
(``[A-Za-z0-9_-]``, at most 64 characters: it is written into logs and a column,
so anything else is replaced, never trusted), else makes one; binds it (and the
session id of a ``/api/sessions/{id}/...`` or presence path) for everything the
request does (:func:`openinspect_protocol.logs.bind`); and returns it as
``X-Request-Id`` on every response. A prompt queued by the request keeps it
(``message.request_id``), so the worker's dispatch and the sandbox's turn log it too.

One ``http.request`` line per API request (method, path, status, duration): the
access log, which ties the id to what was asked. Reflex's own pages and assets are
not logged line by line (a page load is dozens of requests).
"""

from __future__ import annotations

import re
import time

from openinspect_protocol import logs
from openinspect_protocol.logs import EventLog
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = EventLog(__name__)

HEADER = "X-Request-Id"
# The paths that name a session: its id is bound for the request (the path parameter's own pattern).
_SESSION_PATH = re.compile(r"^(?:/api/sessions|/_ui/presence)/([A-Za-z0-9_-]{1,64})(?:/|$)")
LOGGED_PREFIXES = ("/api/", "/_ui/")
QUIET_PATHS = frozenset({"/api/health"})  # polled by probes: logged at debug only
MAX_LOGGED_PATH_CHARS = 200


def request_id_from(headers: Headers) -> str:
    """The client's request id when it is usable, else a new one."""
    given = headers.get(HEADER, "").strip()
    return given if logs.VALID_ID.match(given) else logs.new_request_id()


def session_id_in(path: str) -> str | None:
    """The session id a path names (``/api/sessions/{id}/...``), if any."""
    found = _SESSION_PATH.match(path)
    return found.group(1) if found else None


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope))
        path: str = scope.get("path", "")
        status = 500  # if the app fails before it answers, the server's 500 is what the client gets

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        started = time.monotonic()
        with logs.bind(request_id=request_id, session_id=session_id_in(path)):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if path.startswith(LOGGED_PREFIXES):
                    write = log.debug if path in QUIET_PATHS else log.info
                    write("http.request", method=scope.get("method", ""), path=path[:MAX_LOGGED_PATH_CHARS],
                          status=status, duration_ms=round((time.monotonic() - started) * 1000, 1))
