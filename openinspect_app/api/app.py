"""Builds the REST API app; the running system attaches its context at start-up.

The app carries the HTTP boundary (``openinspect_app/http``) as middlewares, so it
guards whatever it is mounted with: in the web process Reflex's own routes (pages,
the event socket) run inside it, behind the same host, origin and body checks.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from openinspect_protocol.logs import EventLog
from starlette.exceptions import HTTPException as StarletteHTTPException

from openinspect_app.api import (
    artifact_routes,
    auth_routes,
    change_routes,
    cost_routes,
    github_routes,
    metrics_routes,
    presence,
    pull_routes,
    routes,
    secret_routes,
    slack_routes,
)
from openinspect_app.api.errors import ApiRefusal
from openinspect_app.http.authn import Authenticate
from openinspect_app.http.bodies import BodyLimit
from openinspect_app.http.cors import Cors
from openinspect_app.http.hosts import TrustedHosts
from openinspect_app.http.policy import Attached
from openinspect_app.http.request_ids import RequestIds
from openinspect_app.http.responses import error_body
from openinspect_app.previews import routes as preview_routes
from openinspect_app.slack_bot import SlackBotHandle
from openinspect_core.context import AppContext
from openinspect_core.services.errors import ServiceError

log = EventLog(__name__)

API_PREFIX = "/api"
# Paths whose sender signs each request instead of signing in: the signature over the body is their only
# credential (a sign-in cookie or API token neither helps nor is asked for), and the route refuses (401,
# nothing done) what its sender did not sign. A test sends each of them every credential but the signature.
SIGNED_PATHS = frozenset({
    f"{API_PREFIX}{github_routes.WEBHOOK_PATH}",  # GitHub: X-Hub-Signature-256
    slack_routes.EVENTS_PATH,  # Slack: X-Slack-Signature over the timestamp and body, checked by the bot
})
# The only paths that answer without a sign-in credential (a test checks that this is exactly what the
# route table leaves open).
PUBLIC_PATHS = frozenset({
    f"{API_PREFIX}/health",
    f"{API_PREFIX}/openapi.json",
    f"{API_PREFIX}/docs",
    f"{API_PREFIX}/auth/local",  # signing in is how one gets credentials
    f"{API_PREFIX}{github_routes.LOGIN_PATH}",
    f"{API_PREFIX}{github_routes.CALLBACK_PATH}",
}) | SIGNED_PATHS
PROTECTED_PREFIXES = (f"{API_PREFIX}/", presence.PREFIX)


def build_api() -> FastAPI:
    api = FastAPI(title="Open-Inspect", version="1", openapi_url=f"{API_PREFIX}/openapi.json",
                  docs_url=f"{API_PREFIX}/docs", redoc_url=None, swagger_ui_oauth2_redirect_url=None)
    api.state.attached = None
    api.include_router(routes.router, prefix=API_PREFIX)
    api.include_router(cost_routes.router, prefix=API_PREFIX)  # PATCH /sessions/{id}, /sessions/{id}/cost
    api.include_router(auth_routes.router, prefix=API_PREFIX)
    api.include_router(pull_routes.router, prefix=API_PREFIX)
    api.include_router(artifact_routes.router, prefix=API_PREFIX)  # screenshots' bytes, for signed-in people
    api.include_router(change_routes.router, prefix=API_PREFIX)
    api.include_router(github_routes.router, prefix=API_PREFIX)
    api.include_router(secret_routes.router, prefix=API_PREFIX)
    api.include_router(slack_routes.router, prefix=API_PREFIX)
    api.include_router(slack_routes.events_router)  # /slack/events: where Slack posts, signed by Slack
    api.include_router(metrics_routes.router)  # /metrics, where Prometheus looks; checks its own credentials
    api.add_route(presence.PATH, presence.report_presence, methods=["POST"])

    def current() -> Attached | None:
        attached: Attached | None = api.state.attached
        return attached

    # Live previews (/sessions/{id}/preview/{port}/…): each checks its own credential, the sign-in or a grant.
    api.router.routes.extend(preview_routes.routes(current))

    # Added innermost first: RequestIds(CountErrors(TrustedHosts(Cors(BodyLimit(Authenticate(app)))))).
    api.add_middleware(Authenticate, current=current, protected_prefixes=PROTECTED_PREFIXES,
                       public_paths=PUBLIC_PATHS)
    api.add_middleware(BodyLimit, current=current)
    api.add_middleware(Cors, current=current)
    api.add_middleware(TrustedHosts, current=current, own_origin_checked_by=preview_routes.is_preview_websocket)
    api.add_middleware(metrics_routes.CountErrors, current=current)  # sees every refusal, the boundary's too
    api.add_middleware(RequestIds)  # outermost: every response, refusals too, carries X-Request-Id

    @api.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status_code)

    @api.exception_handler(ApiRefusal)
    async def refused(_: Request, exc: ApiRefusal) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status_code)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return JSONResponse(error_body("invalid_request", f"{where}: {first.get('msg')}"), status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid_request", 401: "unauthenticated", 404: "not_found", 405: "method_not_allowed",
                413: "too_large", 503: "unavailable"}
        return JSONResponse(error_body(code.get(exc.status_code, "http_error"), str(exc.detail)),
                            status_code=exc.status_code, headers=exc.headers)

    @api.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("api.internal_error", path=request.url.path[:200], error=repr(exc)[:500])
        if api.state.attached is not None:  # answered outside the middlewares (Starlette's error middleware)
            api.state.attached.context.metrics.error("api", "internal")
        return JSONResponse(error_body("internal", "something went wrong on our side; it was logged"),
                            status_code=500)

    return api


def attach(api: FastAPI, context: AppContext | None, slack: SlackBotHandle | None = None) -> None:
    """Serve ``context`` (None: stop serving; requests are then answered 503), with the Slack bot
    that runs in this process, if one does (``ControlPlane.slack``)."""
    api.state.attached = None if context is None else Attached.of(context, slack)
