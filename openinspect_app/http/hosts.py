"""The trusted-host check, for every request and WebSocket of the web process (pages, the
Reflex event socket and the API alike).

A page on a foreign site that resolves its own name to 127.0.0.1 (DNS rebinding)
reaches this server with its own name in ``Host``; refusing names that are not
ours makes that fail. A WebSocket carries no CORS protection, so one opened by a
foreign page (its ``Origin`` is not ours) is refused here too; clients that are
not browsers send no ``Origin`` and are judged by their credentials alone.
"""

from __future__ import annotations

from collections.abc import Callable

from openinspect_protocol.logs import EventLog
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from openinspect_app.http.policy import Current
from openinspect_app.http.responses import send_error

log = EventLog(__name__)


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, without the port ("[::1]" for an IPv6 address)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else ""
    return host.split(":", 1)[0]


class TrustedHosts:
    def __init__(self, app: ASGIApp, current: Current,
                 own_origin_checked_by: Callable[[str], bool] = lambda path: False) -> None:
        """``own_origin_checked_by(path)``: a WebSocket whose route checks its origin and credential itself
        (a live preview's: its page's origin is opaque, "null", and its grant is its credential)."""
        self.app = app
        self.current = current
        self.own_origin_checked_by = own_origin_checked_by

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        attached = self.current()
        if attached is None:
            if scope["type"] == "http":
                await send_error(send, 503, "unavailable", "the system is starting; try again shortly")
            else:
                await send({"type": "websocket.close", "code": 1013})
            return
        headers = Headers(scope=scope)
        host = host_name(headers.get("host", ""))
        if host not in attached.policy.hosts:
            log.warning("http.host_refused", host=host[:100], path=scope.get("path", "")[:200])
            if scope["type"] == "http":
                await send_error(send, 400, "invalid_host", f"this server does not answer to the host {host!r}")
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] == "websocket":
            origin = headers.get("origin")
            if (origin is not None and origin.lower() not in attached.policy.origins
                    and not self.own_origin_checked_by(scope.get("path", ""))):
                log.warning("http.websocket_origin_refused", origin=origin[:100], path=scope.get("path", "")[:200])
                await send({"type": "websocket.close", "code": 1008})  # before accept: the server answers 403
                return
        await self.app(scope, receive, send)
