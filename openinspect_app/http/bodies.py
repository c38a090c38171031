"""Request bodies bounded as they arrive: a declared ``Content-Length`` over the limit is
refused before anything is read, and a body sent without one (chunked) is cut off at the
limit — the app sees the client leave and its answer is replaced by the 413."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openinspect_app.http.policy import Current
from openinspect_app.http.responses import send_error


class BodyLimit:
    def __init__(self, app: ASGIApp, current: Current) -> None:
        self.app = app
        self.current = current

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        attached = self.current()
        if scope["type"] != "http" or attached is None:
            await self.app(scope, receive, send)
            return
        limit = attached.policy.max_request_bytes
        too_large = f"the request body is over {limit} bytes (OPENINSPECT_MAX_REQUEST_BYTES)"
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await send_error(send, 400, "invalid_request", "Content-Length is not a number")
                return
            if int(declared) > limit:
                await send_error(send, 413, "too_large", too_large)
                return
        received = 0
        over = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}  # as if the client left: the app stops reading
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over and not started:
                return  # the app's answer to a body cut short; the 413 below replaces it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not over:
                raise
        if over and not started:
            await send_error(send, 413, "too_large", too_large)
