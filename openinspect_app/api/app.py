"""Builds the REST API app; the running system attaches its context at start-up."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openinspect_app.api import routes
from openinspect_core.context import AppContext
from openinspect_core.services.errors import ServiceError

API_PREFIX = "/api"


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def build_api() -> FastAPI:
    api = FastAPI(title="Open-Inspect", version="1", openapi_url=f"{API_PREFIX}/openapi.json",
                  docs_url=f"{API_PREFIX}/docs", redoc_url=None)
    api.state.context = None
    api.include_router(routes.router, prefix=API_PREFIX)

    @api.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status_code)

    @api.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
        return JSONResponse(error_body("invalid_request", f"{where}: {first.get('msg')}"), status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 503: "unavailable"}
        return JSONResponse(error_body(code.get(exc.status_code, "http_error"), str(exc.detail)),
                            status_code=exc.status_code)

    return api


def attach(api: FastAPI, context: AppContext | None) -> None:
    api.state.context = context
