"""``GET /metrics`` (Prometheus's text format), and the count of every error answer by its code.

Who may read it: a signed-in person (API token or sign-in cookie, as everywhere under
``/api``), or Prometheus with ``Authorization: Bearer <OPENINSPECT_METRICS_TOKEN>``
(compared in constant time). It sits outside the protected prefixes because the
metrics token is not an API token (the Authenticate middleware knows only those), so
the route checks the credentials itself; it is in the API's route table, so the
authorization matrix (tests/security) refuses every bad credential here too.

:class:`CountErrors` counts every error answer (status >= 400) by the code in its body
(``{"error": {"code": ...}}``), whichever part answered: a route, a service, or a
middleware of the HTTP boundary. Other bodies count as ``http_<status>``.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openinspect_app.api.deps import attached
from openinspect_app.api.errors import ApiRefusal, error_responses
from openinspect_app.http.authn import bearer_token, resolve
from openinspect_app.http.policy import Current
from openinspect_core import metrics

router = APIRouter()
MAX_ERROR_BODY_BYTES = 4096  # error bodies are small; anything longer is not ours


@router.get(metrics.PATH, responses=error_responses(401, 503), response_class=Response, tags=["operations"],
            summary="Metrics in Prometheus's text format")
async def read_metrics(request: Request) -> Response:
    system = attached(request)
    token = bearer_token(request.headers)
    if not metrics.token_matches(system.context.settings.metrics_token, token):
        if await resolve(system, request.headers) is None:
            raise ApiRefusal(401, "unauthenticated", "send the metrics token (OPENINSPECT_METRICS_TOKEN) or an "
                                                     "API token as 'Authorization: Bearer <token>', or sign in")
    return Response(await system.context.metrics.scrape(), media_type=metrics.CONTENT_TYPE)


def error_code(status: int, body: bytes) -> str:
    """The ``error.code`` of an error body, else ``http_<status>``."""
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, TypeError, KeyError):
        return f"http_{status}"
    return code if isinstance(code, str) else f"http_{status}"


class CountErrors:
    """Count each error answer by code into the running system's metrics (outermost middleware)."""

    def __init__(self, app: ASGIApp, current: Current) -> None:
        self.app = app
        self.current = current

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        body = bytearray()

        async def counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status >= 400:
                if len(body) < MAX_ERROR_BODY_BYTES:
                    body.extend(message.get("body", b"")[:MAX_ERROR_BODY_BYTES])
                if not message.get("more_body", False):
                    self._count(status, bytes(body))
            await send(message)

        await self.app(scope, receive, counting)

    def _count(self, status: int, body: bytes) -> None:
        running = self.current()
        if running is not None:  # while starting or stopping there is no system to count into
            running.context.metrics.error("api", error_code(status, body))
