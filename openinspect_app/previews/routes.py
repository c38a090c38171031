"""The live-preview routes: who may open a session's declared dev server, and through which URL.

``GET /sessions/{id}/preview/{port}/`` ("Open preview") takes the person's own
credential (the sign-in cookie, which a top-level navigation carries, or an API
token), checks that the session's live sandbox declared the port, and sends the
browser on to ``/sessions/{id}/preview/{port}/{grant}/<declared path>``: the
preview itself, every method and WebSocket upgrades, with the grant as its
credential (``grants``: why it is not the cookie). Each request through a grant is
checked again — the grant (for this session and port, not expired), its sign-in or
token still working, the port still declared by the live sandbox — before the
sandbox's backend is asked where the port is and the request is forwarded (``proxy``).

Refusals: no credential is 401 (a browser's page load is sent to sign in instead), a
port the sandbox did not declare 404 (``preview_not_declared``), no live sandbox 503
(``no_sandbox``), the dev server down 502, too slow 504. A grant that no longer works
on a page load by someone still signed in is renewed (back through "Open preview").
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote

from openinspect_protocol.logs import EventLog
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from openinspect_app.http.authn import resolve
from openinspect_app.http.policy import Attached, Current
from openinspect_app.http.redirects import safe_next
from openinspect_app.previews import grants
from openinspect_app.previews.proxy import Upstream, forward_http, refusal, relay_websocket
from openinspect_app.routes import sign_in_url
from openinspect_core.github import accounts
from openinspect_core.models import User
from openinspect_core.services import identity, previews
from openinspect_core.services.errors import ServiceError

log = EventLog(__name__)

ENTRY_PATH = "/sessions/{session_id}/preview/{port:int}"
GRANTED_PATH = "/sessions/{session_id}/preview/{port:int}/{grant}/{path:path}"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Why: a WebSocket may stay open for hours; its person's access is checked again this often.
RECHECK_SECONDS = 60.0


def preview_url(session_id: str, port: int) -> str:
    """Where "Open preview" goes (the entry: it sends the browser on to the granted URL)."""
    return f"/sessions/{quote(session_id, safe='')}/preview/{port}/"


def routes(current: Current) -> list[BaseRoute]:
    """The routes, bound to the running system (``current``: None while it starts or stops)."""
    previews_ = Previews(current)
    return [
        Route(ENTRY_PATH, previews_.open, methods=["GET"]),
        Route(ENTRY_PATH + "/", previews_.open, methods=["GET"]),
        Route(GRANTED_PATH, previews_.forward, methods=METHODS),
        WebSocketRoute(GRANTED_PATH, previews_.websocket),
    ]


def is_preview_websocket(path: str) -> bool:
    """Whether a WebSocket's path is a preview's (its ``Origin`` is the preview's opaque "null", and its
    grant is its credential: the trusted-host check leaves its origin to these routes)."""
    parts = path.split("/", 6)
    return (len(parts) >= 6 and parts[0] == "" and parts[1] == "sessions" and parts[3] == "preview"
            and parts[4].isdigit() and grants.looks_like_grant(parts[5]))


@dataclass(frozen=True)
class _Granted:
    attached: Attached
    session_id: str
    port: int
    grant: grants.Grant
    upstream: Upstream


class Previews:
    def __init__(self, current: Current) -> None:
        self.current = current

    # ------------------------------------------------------------------ entry

    async def open(self, request: Request) -> Response:
        attached = self.current()
        if attached is None:
            return refusal(503, "unavailable", "the system is starting; try again shortly")
        session_id, port = request.path_params["session_id"], request.path_params["port"]
        caller = await resolve(attached, request.headers)
        if caller is None:
            if _is_page_load(request.headers):
                return RedirectResponse(sign_in_url(request.url.path), status_code=303)
            return refusal(401, "unauthenticated", "sign in, or send an API token as 'Authorization: Bearer <token>'")
        try:
            async with attached.context.db.session() as db:
                target = await previews.target(db, session_id, port)
                found = await (identity.find_sign_in(db, caller.secret) if caller.via == "cookie"
                               else identity.find_api_token(db, caller.secret))
        except ServiceError as error:
            return refusal(error.status_code, error.code, error.message)
        if found is None:
            return refusal(401, "unauthenticated", "your sign-in has ended; sign in again")
        expires = int(time.time()) + attached.context.settings.preview_grant_seconds
        grant = grants.issue(attached.policy.session_secret, session_id, port,
                             grants.Grant(caller.via, found[0].id, expires))
        path = safe_next(request.query_params.get("path"), target.port.path)
        log.info("previews.opened", session_id=session_id, port=port, user_id=caller.user.id)
        return RedirectResponse(f"{preview_url(session_id, port)}{grant}{path}", status_code=303,
                                headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})

    # --------------------------------------------------------------- granted

    async def forward(self, request: Request) -> Response:
        granted = await self._check(request.path_params, request.headers)
        if isinstance(granted, Response):
            if granted.status_code == 401 and await self._renewable(request):
                return self._renew(request)
            return granted
        settings = granted.attached.context.settings
        return await forward_http(request, granted.upstream, request.path_params["path"],
                                  timeout_seconds=settings.preview_timeout_seconds,
                                  max_response_bytes=settings.preview_max_response_bytes)

    async def websocket(self, websocket: WebSocket) -> None:
        granted = await self._check(websocket.path_params, websocket.headers)
        if isinstance(granted, Response):
            try:
                await websocket.send_denial_response(granted)
            except RuntimeError:
                await websocket.close(code=1008)
            return
        secret = granted.attached.policy.session_secret
        grant_value = websocket.path_params["grant"]

        async def still_allowed() -> bool:
            attached = self.current()
            if attached is None or grants.verify(secret, granted.session_id, granted.port, grant_value,
                                                 time.time()) is None:
                return False
            return await self._user(attached, granted.grant) is not None

        await relay_websocket(websocket, granted.upstream, websocket.path_params["path"],
                              timeout_seconds=granted.attached.context.settings.preview_timeout_seconds,
                              still_allowed=still_allowed, recheck_seconds=RECHECK_SECONDS)

    async def _check(self, params: dict[str, object], headers: Headers) -> _Granted | Response:
        """The grant, its person, the declared port and its address; or the refusal to send instead."""
        attached = self.current()
        if attached is None:
            return refusal(503, "unavailable", "the system is starting; try again shortly")
        session_id, port, value = str(params["session_id"]), int(str(params["port"])), str(params["grant"])
        grant = grants.verify(attached.policy.session_secret, session_id, port, value, time.time())
        user = None if grant is None else await self._user(attached, grant)
        if grant is None or user is None:
            return refusal(401, "unauthenticated", "this preview's address has expired or is not yours; open it "
                           "again from the session's page (\"Open preview\")")
        addresses = attached.context.sandbox_addresses
        try:
            async with attached.context.db.session() as db:
                target = await previews.target(db, session_id, port)
            if addresses is None:
                raise previews.PreviewUnavailable("live previews are not available in this process")
            if target.sandbox.external_id is None:
                raise previews.PreviewUnavailable("the sandbox is still starting")
            host, target_port = await addresses(target.sandbox.backend, target.sandbox.external_id, port)
        except ServiceError as error:
            return refusal(error.status_code, error.code, error.message)
        prefix = f"{preview_url(session_id, port)}{value}"
        return _Granted(attached, session_id, port, grant, Upstream(host, target_port, prefix, f"port {port}"))

    async def _user(self, attached: Attached, grant: grants.Grant) -> User | None:
        """The grant's person, while the sign-in or token it was issued for still works."""
        async with attached.context.db.session() as db:
            user = await (identity.user_for_sign_in_id(db, grant.credential_id) if grant.via == "cookie"
                          else identity.user_for_api_token_id(db, grant.credential_id))
        if user is None or (attached.context.settings.identity_provider == "github"
                            and not await accounts.still_allowed(attached.context, user.id)):
            return None
        return user

    async def _renewable(self, request: Request) -> bool:
        """A request through a grant that no longer works, by someone whose own credential does (a page load:
        a top-level navigation carries the sign-in cookie; the page's own requests never do): sent back
        through "Open preview" for a new grant."""
        attached = self.current()
        return attached is not None and await resolve(attached, request.headers) is not None

    def _renew(self, request: Request) -> Response:
        session_id, port = request.path_params["session_id"], request.path_params["port"]
        path = "/" + request.path_params["path"] + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{preview_url(session_id, port)}?path={quote(path, safe='')}", status_code=303,
                                headers={"cache-control": "no-store", "referrer-policy": "no-referrer"})


def _is_page_load(headers: Headers) -> bool:
    return headers.get("sec-fetch-dest") == "document" or headers.get("sec-fetch-mode") == "navigate"
