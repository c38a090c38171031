"""What every REST answer of the fake shares: callers, errors, headers, pages, the request log.

Owns who is asking (:class:`Caller`, from ``Authorization``: an App JWT, an
installation or user token as ``Bearer``/``token``, or HTTP Basic with a token as
password), GitHub's error bodies (``{"message", "documentation_url", "status"}``,
plus ``errors`` for 422), GitHub's response headers (``X-GitHub-Request-Id``,
``X-RateLimit-*``, ``X-GitHub-Media-Type``, JSON with ``charset=utf-8``),
pagination with a ``Link`` header, and the record of each request
(:class:`RecordedRequest`: no token values, only token ids).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.responses import Response

from .app_jwt import NOT_FOUND, JwtError, looks_like_jwt, verify_app_jwt
from .tokens import Token, TokenStore
from .world import Account, App, Level, Repo, World, level_at_least

DOCS = "https://docs.github.com/rest"
JSON_TYPE = "application/json; charset=utf-8"
NOT_ACCESSIBLE = "Resource not accessible by integration"
API_VERSION = "2022-11-28"


@dataclass(frozen=True)
class Caller:
    """Who a request authenticated as; ``kind`` None means anonymous."""

    kind: str | None
    app: App | None = None
    token: Token | None = None

    @property
    def user(self) -> Account | None:
        return self.token.user if self.token is not None and self.token.kind == "user" else None

    @property
    def token_id(self) -> int | None:
        return self.token.id if self.token is not None else None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    status: int
    auth: str | None  # "jwt" | "installation" | "user" | "basic-installation" | "basic-user" | None
    token_id: int | None
    query: str = ""


@dataclass
class Services:
    """The state the routes share: the world, the tokens and the request log."""

    world: World
    tokens: TokenStore
    requests: list[RecordedRequest] = field(default_factory=list)
    rate_used: dict[str, int] = field(default_factory=dict)
    rate_reset: int = field(default_factory=lambda: int(time.time()) + 3600)


class ApiError(Exception):
    """An error answer in GitHub's shape."""

    def __init__(self, status: int, message: str, *, doc: str = DOCS, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": doc, "status": str(status)}
        if errors is not None:
            self.body["errors"] = errors
        self.headers = headers or {}


def validation_failed(doc: str, *errors: dict[str, Any]) -> ApiError:
    return ApiError(422, "Validation Failed", doc=doc, errors=list(errors))


def not_found(doc: str = DOCS) -> ApiError:
    return ApiError(404, "Not Found", doc=doc)


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def authenticate(services: Services, authorization: str | None) -> Caller:
    """The caller named by an ``Authorization`` header; raises 401 like GitHub for bad credentials."""
    if not authorization:
        return Caller(None)
    scheme, _, value = authorization.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    now = services.world.now()
    if scheme in ("bearer", "token") and looks_like_jwt(value):
        try:
            return Caller("jwt", app=verify_app_jwt(services.world, value, now))
        except JwtError as exc:
            raise ApiError(404 if str(exc) == NOT_FOUND else 401, str(exc)) from None
    prefix = ""
    if scheme == "basic":
        try:
            _, _, value = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "Bad credentials") from None
        prefix = "basic-"
    elif scheme not in ("bearer", "token"):
        raise ApiError(401, "Bad credentials")
    token = services.tokens.valid(value, now)
    if token is None or token.kind == "refresh":
        raise ApiError(401, "Bad credentials")
    return Caller(prefix + token.kind, app=token.app, token=token)


class RestContext:
    """One REST request, as the route functions see it (they run with the world's lock held)."""

    def __init__(self, services: Services, method: str, path: str, url: str, query: QueryParams,
                 headers: dict[str, str], body: bytes, params: dict[str, str]) -> None:
        self.services = services
        self.world = services.world
        self.tokens = services.tokens
        self.method, self.path, self.url, self.query = method, path, url, query
        self.headers, self.body, self.params = headers, body, params
        self.caller = Caller(None)

    @property
    def now(self) -> datetime:
        return self.world.now()

    def json(self) -> dict[str, Any]:
        """The JSON object body ({} when empty); 400 "Problems parsing JSON" like GitHub otherwise."""
        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except ValueError:
            raise ApiError(400, "Problems parsing JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Problems parsing JSON")
        return data

    def require_user(self) -> Account:
        if self.caller.kind is None:
            raise ApiError(401, "Requires authentication")
        if self.caller.user is None:
            raise ApiError(403, NOT_ACCESSIBLE)
        return self.caller.user

    def require_jwt(self) -> App:
        if self.caller.kind != "jwt" or self.caller.app is None:
            raise ApiError(401, "A JSON web token could not be decoded")
        return self.caller.app

    def repo(self, doc: str) -> Repo:
        """The repository named by the path, if the caller may see it; else 404 like GitHub."""
        repo = self.world.repo(f"{self.params['owner']}/{self.params['repo']}")
        if repo is None or not self.world.can_see(self.caller, repo):
            raise not_found(doc)
        return repo

    def require_repo_permission(self, repo: Repo, name: str, level: Level) -> None:
        if not level_at_least(self.world.repo_permission(self.caller, repo, name), level):
            if self.caller.kind is None:
                raise ApiError(401, "Requires authentication")
            raise ApiError(403, NOT_ACCESSIBLE, headers={"X-Accepted-GitHub-Permissions": f"{name}={level}"})

    def paginate(self, items: Sequence[Any]) -> tuple[list[Any], dict[str, str]]:
        """One page of ``items`` (``per_page`` ≤ 100, default 30; ``page`` from 1) and its Link header."""
        per_page = _int(self.query.get("per_page"), 30, 1, 100)
        page = _int(self.query.get("page"), 1, 1, 10**6)
        last = max(1, -(-len(items) // per_page))
        chunk = list(items[(page - 1) * per_page: page * per_page])
        links = []

        def link(number: int, rel: str) -> str:
            query = dict(self.query.multi_items())
            query.update(per_page=str(per_page), page=str(number))
            return f'<{self.url}?{urlencode(query)}>; rel="{rel}"'

        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        return chunk, ({"Link": ", ".join(links)} if links else {})


def _int(raw: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(raw))) if raw is not None else default
    except ValueError:
        return default


def github_headers(services: Services, caller: Caller, client: str) -> dict[str, str]:
    """The headers GitHub sends on every API answer (rate limits counted per credential)."""
    key = f"token:{caller.token_id}" if caller.token else f"app:{caller.app.id}" if caller.app else f"ip:{client}"
    limit = 60 if caller.kind is None else 5000
    used = services.rate_used[key] = services.rate_used.get(key, 0) + 1
    return {
        "Server": "GitHub.com",
        "X-GitHub-Request-Id": ":".join(secrets.token_hex(n).upper() for n in (2, 3, 3, 4, 4)),
        "X-GitHub-Media-Type": "github.v3; format=json",
        "X-GitHub-Api-Version-Selected": API_VERSION,
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(0, limit - used)),
        "X-RateLimit-Reset": str(services.rate_reset),
        "X-RateLimit-Used": str(used),
        "X-RateLimit-Resource": "core",
    }


def run_rest(services: Services, ctx: RestContext, handler: Callable[[RestContext], Reply], client: str) -> Reply:
    """Authenticate, run the route under the world's lock, turn errors into GitHub's answers."""
    with services.world.lock:
        try:
            ctx.caller = authenticate(services, ctx.headers.get("authorization"))
            reply = handler(ctx)
        except ApiError as exc:
            reply = Reply(exc.status, exc.body, dict(exc.headers))
        reply.headers = {**github_headers(services, ctx.caller, client), **reply.headers}
        services.requests.append(RecordedRequest(ctx.method, ctx.path, reply.status, ctx.caller.kind,
                                                 ctx.caller.token_id, str(ctx.query)))
    return reply


def to_response(reply: Reply) -> Response:
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    payload = json.dumps(reply.body, ensure_ascii=False).encode()
    return Response(payload, status_code=reply.status, headers=reply.headers, media_type=JSON_TYPE)
