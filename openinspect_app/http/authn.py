"""Who is asking, for every HTTP entry point of the API and the page helpers.

A request names its person with ``Authorization: Bearer <API token>`` (scripts,
the CLI) or with the signed sign-in cookie (browsers). :class:`Authenticate`
resolves it before any route runs, for every path under the protected prefixes
except the public ones the route owner lists; no credential, or one that is
forged, expired or revoked, is a 401 with nothing read or written. A bearer
token is only ever looked up among API tokens, so a sandbox's bridge token (or
anything else) is worth nothing here. Cookie-authenticated changes must also
pass the CSRF check (``csrf``): 403 ``csrf_refused``.

With GitHub sign-in (``OPENINSPECT_IDENTITY_PROVIDER=github``) a person with a GitHub
account is checked again when their access was last verified more than 10 minutes
ago (``openinspect_core.github.accounts.still_allowed``): someone removed from the
organisation, or whose GitHub token is dead, is signed out everywhere and every
credential of theirs (cookie or API token) is a 401 until they sign in again.

Single tenant: any signed-in person may see and act on every session; what the
caller *is* still matters, because the author of a prompt and the creator of a
session is always the caller.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from openinspect_app.http import cookies, csrf
from openinspect_app.http.policy import Attached, Current, HttpPolicy
from openinspect_app.http.responses import send_error
from openinspect_core.context import AppContext
from openinspect_core.github import accounts
from openinspect_core.models import User
from openinspect_core.services import identity

CALLER_KEY = "openinspect.caller"  # where the resolved caller waits in the ASGI scope


@dataclass(frozen=True)
class Caller:
    user: User
    via: Literal["token", "cookie"]
    secret: str = field(repr=False)  # the API token or sign-in token, to check it again later (streams)


def bearer_token(headers: Headers) -> str | None:
    """The token of an ``Authorization: Bearer`` header ("" when the header is there but empty)."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def sign_in_token(headers: Headers, policy: HttpPolicy) -> str | None:
    """The sign-in token of a validly signed cookie (None for no cookie or a forged one)."""
    value = cookie_parser(headers.get("cookie", "")).get(cookies.COOKIE_NAME)
    return cookies.unsign(value, policy.session_secret)


async def user_for(context: AppContext, via: Literal["token", "cookie"], secret: str) -> User | None:
    """The person a credential names now; the once-a-minute bookkeeping write in its own transaction
    (a read that turned into a write would fail on SQLite when another writer went first)."""
    async with context.db.session() as db:
        found = await (identity.find_api_token(db, secret) if via == "token" else identity.find_sign_in(db, secret))
    if found is None:
        return None
    row, user = found
    if identity.needs_touch(row):
        async with context.db.writer() as db:
            if via == "token":
                await identity.touch_api_token(db, row)  # type: ignore[arg-type]
            else:
                await identity.touch_sign_in(db, row)  # type: ignore[arg-type]
            await db.commit()
    if context.settings.identity_provider == "github" and not await accounts.still_allowed(context, user.id):
        return None
    return user


async def resolve(attached: Attached, headers: Headers) -> Caller | None:
    """The caller, from a bearer API token if one is given (then only from it), else the cookie."""
    token = bearer_token(headers)
    if token is not None:
        user = await user_for(attached.context, "token", token) if token else None
        return None if user is None else Caller(user, "token", token)
    signed_in = sign_in_token(headers, attached.policy)
    if signed_in is None:
        return None
    user = await user_for(attached.context, "cookie", signed_in)
    return None if user is None else Caller(user, "cookie", signed_in)


async def still_valid(context: AppContext, caller: Caller) -> bool:
    """Whether the credential a (long) request came with still works: a stream ends when it does not."""
    return await user_for(context, caller.via, caller.secret) is not None


async def user_from_cookie(context: AppContext, policy: HttpPolicy, cookie_header: str) -> User | None:
    """The signed-in person of a ``Cookie`` header (for the Reflex side, which sees the page's headers)."""
    token = sign_in_token(Headers({"cookie": cookie_header}), policy)
    return None if token is None else await user_for(context, "cookie", token)


class Authenticate:
    """Resolve the caller for protected paths; refuse (401/403) before the app sees the request."""

    def __init__(self, app: ASGIApp, current: Current, protected_prefixes: Collection[str],
                 public_paths: Collection[str]) -> None:
        self.app = app
        self.current = current
        self.protected_prefixes = tuple(protected_prefixes)
        self.public_paths = frozenset(public_paths)

    def protects(self, path: str) -> bool:
        if path in self.public_paths:
            return False
        return any(path == p.rstrip("/") or path.startswith(p) for p in self.protected_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        attached = self.current()
        if scope["type"] != "http" or attached is None or not self.protects(scope["path"]):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        caller = await resolve(attached, headers)
        if caller is None:
            await send_error(send, 401, "unauthenticated",
                             "sign in, or send an API token as 'Authorization: Bearer <token>'",
                             headers=[(b"www-authenticate", b"Bearer")])
            return
        if (caller.via == "cookie" and scope["method"] in csrf.STATE_CHANGING
                and not csrf.same_origin(headers, attached.policy.origins, required=True)):
            await send_error(send, 403, "csrf_refused",
                             "a change made with the sign-in cookie must come from this app's own pages "
                             "(its Origin or Referer must be this app's)")
            return
        scope[CALLER_KEY] = caller
        await self.app(scope, receive, send)
