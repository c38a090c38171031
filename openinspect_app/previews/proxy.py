"""Forwarding one request, or one WebSocket, to a sandbox's dev server: httpx and websockets do the wire.

It owns the forwarding and its bounds: a time limit to connect and to answer
(``OPENINSPECT_PREVIEW_TIMEOUT_SECONDS``: then ``504``), nothing listening is a
``502`` that says so, an answer larger than ``OPENINSPECT_PREVIEW_MAX_RESPONSE_BYTES``
is refused (``502``) or, when the dev server did not say its length, cut off there;
request bodies are bounded before they get here (``OPENINSPECT_MAX_REQUEST_BYTES``, the
HTTP boundary's ``BodyLimit``). WebSocket messages are relayed both ways as they come,
each at most :data:`MAX_WEBSOCKET_MESSAGE_BYTES`.

It leaves to others who may ask (``routes``) and which headers pass (``headers``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
from openinspect_protocol.logs import EventLog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from openinspect_app.http.responses import error_body
from openinspect_app.previews import headers as policy

log = EventLog(__name__)

# Why: a hot-reload message or a page's data over a WebSocket is small; 4 MiB bounds a runaway one.
MAX_WEBSOCKET_MESSAGE_BYTES = 4 * 1024 * 1024
# Why: a dev server that answers at all answers its WebSocket handshake within seconds.
WEBSOCKET_CLOSE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Upstream:
    """One declared port of one sandbox, as the web process reaches it."""

    host: str
    port: int
    prefix: str  # the preview's path on our side, without a trailing "/": /sessions/<id>/preview/<port>/<grant>
    label: str  # the port as people know it: "port 3000"

    def http_url(self, path: str, query: str) -> str:
        return f"http://{self._netloc}/{path}" + (f"?{query}" if query else "")

    def ws_url(self, path: str, query: str) -> str:
        return f"ws://{self._netloc}/{path}" + (f"?{query}" if query else "")

    @property
    def _netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def origins(self) -> tuple[str, ...]:
        return (f"http://{self._netloc}", f"http://localhost:{self.port}")


def refusal(status: int, code: str, message: str) -> Response:
    """The proxy's own error answers carry the same sandbox policy as the previews they stand in for."""
    return JSONResponse(error_body(code, message), status_code=status, headers=dict(policy.ADDED))


async def forward_http(request: Request, upstream: Upstream, path: str, *, timeout_seconds: float,
                       max_response_bytes: int) -> Response:
    """The dev server's answer to ``request`` (its ``path`` under the preview), or a 502/504 saying why not."""
    client = httpx.AsyncClient(trust_env=False,  # a proxy setting must never capture this traffic
                               timeout=httpx.Timeout(timeout_seconds), follow_redirects=False)
    headers = policy.upstream_request_headers(
        request.headers.items(), target_host=upstream.host, target_port=upstream.port,
        public_host=request.headers.get("host", ""), public_scheme=request.url.scheme, prefix=upstream.prefix)
    try:
        outgoing = client.build_request(request.method, upstream.http_url(path, request.url.query),
                                        headers=headers, content=await request.body())
        answer = await client.send(outgoing, stream=True)
    except BaseException as exc:
        await client.aclose()
        if isinstance(exc, Exception):
            return _failure(exc, upstream, timeout_seconds)
        raise
    declared = answer.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_response_bytes:
        await answer.aclose()
        await client.aclose()
        return refusal(502, "preview_too_large", f"the dev server on {upstream.label} answered with {declared} "
                       f"bytes, more than the preview passes on ({max_response_bytes}; "
                       "OPENINSPECT_PREVIEW_MAX_RESPONSE_BYTES)")
    response_headers = policy.browser_response_headers(answer.headers.multi_items(), upstream_origins=upstream.origins,
                                                       prefix=upstream.prefix)
    if declared is not None and declared.isdigit():
        response_headers.append(("content-length", declared))

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        try:
            async for chunk in answer.aiter_raw():
                sent += len(chunk)
                if sent > max_response_bytes:
                    log.warning("previews.response_cut", upstream=upstream.label, limit=max_response_bytes)
                    return  # the browser sees the answer end early; it was already under way
                yield chunk
        except httpx.HTTPError as exc:
            log.warning("previews.response_broken", upstream=upstream.label, error=type(exc).__name__)
        finally:
            await answer.aclose()
            await client.aclose()

    streaming = StreamingResponse(body(), status_code=answer.status_code)
    streaming.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response_headers]
    return streaming


def _failure(exc: Exception, upstream: Upstream, timeout_seconds: float) -> Response:
    if isinstance(exc, httpx.TimeoutException):
        return refusal(504, "preview_timeout", f"the dev server on {upstream.label} did not answer within "
                       f"{timeout_seconds:g} s (OPENINSPECT_PREVIEW_TIMEOUT_SECONDS)")
    if isinstance(exc, httpx.ConnectError):
        return refusal(502, "preview_unreachable", f"nothing answers on {upstream.label} in the sandbox: is its dev "
                       "server running? (.openinspect/start.sh starts it)")
    if isinstance(exc, httpx.HTTPError):
        return refusal(502, "preview_bad_gateway", f"the dev server on {upstream.label} gave no valid HTTP "
                       f"answer ({type(exc).__name__})")
    raise exc


Recheck = Callable[[], Awaitable[bool]]


async def relay_websocket(websocket: WebSocket, upstream: Upstream, path: str, *, timeout_seconds: float,
                          still_allowed: Recheck, recheck_seconds: float) -> None:
    """Connect to the dev server's WebSocket, then relay both ways until either side closes (or the
    person's access ends: ``still_allowed`` is asked every ``recheck_seconds``)."""
    asked = [p.strip() for p in websocket.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    try:
        remote = await connect(
            upstream.ws_url(path, websocket.url.query), subprotocols=asked or None,  # type: ignore[arg-type]
            additional_headers=_websocket_headers(websocket, upstream), open_timeout=timeout_seconds,
            max_size=MAX_WEBSOCKET_MESSAGE_BYTES, proxy=None, user_agent_header=None, compression=None,
            close_timeout=WEBSOCKET_CLOSE_TIMEOUT_SECONDS)
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        await _deny(websocket, exc, upstream, timeout_seconds)
        return
    try:
        await websocket.accept(subprotocol=remote.subprotocol)
        await _pump(websocket, remote, still_allowed, recheck_seconds)
    finally:
        await remote.close()


def _websocket_headers(websocket: WebSocket, upstream: Upstream) -> list[tuple[str, str]]:
    # websockets writes its own handshake headers (Host from the URL among them); of the browser's, what
    # is ours is dropped (cookies, the grant's Referer), and its Origin ("null") is not the dev server's business.
    own = {"host", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
           "sec-websocket-protocol", "origin"}
    passed = policy.upstream_request_headers(
        websocket.headers.items(), target_host=upstream.host, target_port=upstream.port,
        public_host=websocket.headers.get("host", ""), public_scheme="http", prefix=upstream.prefix)
    return [(k, v) for k, v in passed if k.lower() not in own]


async def _deny(websocket: WebSocket, exc: Exception, upstream: Upstream, timeout_seconds: float) -> None:
    if isinstance(exc, TimeoutError):
        status, code, reason = 504, "preview_timeout", f"the dev server on {upstream.label} did not answer in time"
    elif isinstance(exc, InvalidStatus):
        status, code = 502, "preview_refused"
        reason = f"the dev server on {upstream.label} refused the WebSocket ({exc.response.status_code})"
    else:
        status, code, reason = 502, "preview_unreachable", f"nothing answers on {upstream.label} in the sandbox"
    log.info("previews.websocket_refused", upstream=upstream.label, reason=code)
    try:
        await websocket.send_denial_response(refusal(status, code, reason))
    except RuntimeError:  # a server without the denial extension: close before accepting (its 403)
        await websocket.close(code=1011, reason=reason[:120])


async def _pump(websocket: WebSocket, remote: ClientConnection, still_allowed: Recheck,
                recheck_seconds: float) -> None:
    async def browser_to_dev_server() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await remote.send(message["bytes"])
            elif message.get("text") is not None:
                await remote.send(message["text"])

    async def dev_server_to_browser() -> None:
        async for data in remote:
            if isinstance(data, bytes):
                await websocket.send_bytes(data)
            else:
                await websocket.send_text(data)

    async def watch() -> None:
        while True:
            await asyncio.sleep(recheck_seconds)
            if not await still_allowed():
                return

    tasks = [asyncio.create_task(browser_to_dev_server()), asyncio.create_task(dev_server_to_browser()),
             asyncio.create_task(watch())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    code, reason = 1000, ""
    if tasks[2] in done:
        code, reason = 1008, "your access to this preview has ended"
    elif tasks[1] in done and remote.close_code is not None:
        code, reason = remote.close_code, remote.close_reason or ""
    with contextlib.suppress(RuntimeError, WebSocketDisconnect, ConnectionClosed):
        await websocket.close(code=_closable(code), reason=reason[:120])


def _closable(code: int) -> int:
    # Codes a server may send (1005, 1006 and 1015 only describe a close; they are never sent).
    return code if code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011) or 3000 <= code < 5000 else 1000
