"""Signing in and out, who am I, and personal API tokens.

``POST /api/auth/local`` is what the sign-in page's plain HTML form posts to (and
what a script may call with JSON): local sign-in, offered only while it is the
identity provider and the server is reached on loopback. A form post is answered
with a redirect (303) to a *safe* ``next``; a failed one goes back to the sign-in
page with ``?error=<code>``. A sign-in from another site's page is refused (login
CSRF: it would sign the browser in as someone the other site chose).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from openinspect_protocol.logs import EventLog
from pydantic import ValidationError
from starlette.datastructures import Headers

from openinspect_app.api.deps import Me, System
from openinspect_app.api.errors import COMMON_ERRORS, ApiRefusal, error_responses
from openinspect_app.api.schemas import (
    ID_PATTERN,
    ApiTokenOut,
    LocalSignInIn,
    NewApiTokenOut,
    SignedInOut,
    TokenIn,
    UserOut,
)
from openinspect_app.http import cookies, csrf
from openinspect_app.http.authn import sign_in_token
from openinspect_app.http.redirects import safe_next
from openinspect_app.routes import SIGN_IN
from openinspect_core.services import identity
from openinspect_core.services.errors import ServiceError

log = EventLog(__name__)
router = APIRouter(responses=error_responses(*COMMON_ERRORS))

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_SIGN_IN_BODY = LocalSignInIn.model_json_schema()  # the body is read by hand (JSON or a form), so described here
SIGN_IN_OPENAPI: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _SIGN_IN_BODY}, "application/x-www-form-urlencoded": {"schema": _SIGN_IN_BODY}}}}


def _is_form(headers: Headers) -> bool:
    return headers.get("content-type", "").split(";")[0].strip().lower() in FORM_TYPES


async def _sign_in_body(request: Request) -> LocalSignInIn:
    try:
        if _is_form(request.headers):
            form = await request.form(max_files=0, max_fields=10)
            data: Any = {k: v for k, v in form.items() if isinstance(v, str)}
        else:
            data = await request.json()
        return LocalSignInIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise ApiRefusal(422, "invalid_request", f"{where}: {first.get('msg')}") from None
    except ValueError:  # not JSON, or a form the parser refuses
        raise ApiRefusal(422, "invalid_request", "body: expected JSON or a form with name and email") from None


def _back_to_sign_in(code: str, next_path: str | None) -> RedirectResponse:
    query = {"error": code} | ({"next": safe_next(next_path)} if next_path else {})
    return RedirectResponse(f"{SIGN_IN}?{urlencode(query)}", status_code=303)


@router.post("/auth/local", openapi_extra=SIGN_IN_OPENAPI, response_model=SignedInOut,
             responses={303: {"description": "Signed in (a form post): on to a safe `next`"},
                        **error_responses(429)})
async def sign_in_local(request: Request, system: System) -> Response:
    """Local sign-in with a name and an email; sets the sign-in cookie."""
    form = _is_form(request.headers)
    policy = system.policy
    if not csrf.same_origin(request.headers, policy.origins, required=False):
        raise ApiRefusal(403, "csrf_refused", "sign-in must come from this app's own sign-in page")
    try:
        if not policy.local_sign_in:
            raise ApiRefusal(403, "local_sign_in_unavailable",
                             "local sign-in works only while it is the identity provider and the server is "
                             "reached on loopback (OPENINSPECT_WEB_HOST=127.0.0.1)")
        body = await _sign_in_body(request)
        previous = sign_in_token(request.headers, policy)
        async with system.context.work() as work:
            if previous is not None:
                await identity.sign_out(work.db, previous)  # a browser holds one sign-in at a time
            user, token = await identity.sign_in_local(work.db, body.name, body.email,
                                                       ttl_seconds=policy.session_ttl_seconds)
    except (ApiRefusal, ServiceError) as refusal:
        if not form:
            raise
        return _back_to_sign_in(refusal.code, None)
    log.info("auth.signed_in", user_id=user.id, provider=identity.LOCAL)
    cookie = cookies.set_cookie(cookies.sign(token, policy.session_secret), max_age=policy.session_ttl_seconds,
                                secure=policy.secure_cookies)
    answer: Response = (RedirectResponse(safe_next(body.next), status_code=303) if form
                        else JSONResponse(SignedInOut(user=UserOut.of(user)).model_dump(mode="json")))
    answer.headers.append("set-cookie", cookie)
    return answer


@router.post("/auth/sign-out", status_code=204, responses={303: {"description": "Signed out (a form post)"}})
async def sign_out(request: Request, system: System, me: Me) -> Response:
    """End this sign-in (with the cookie) and clear the cookie."""
    if me.via == "cookie":
        async with system.context.work() as work:
            await identity.sign_out(work.db, me.secret)
    log.info("auth.signed_out", user_id=me.user.id)
    answer = RedirectResponse(SIGN_IN, status_code=303) if _is_form(request.headers) else Response(status_code=204)
    answer.headers.append("set-cookie", cookies.clear_cookie(secure=system.policy.secure_cookies))
    return answer


@router.get("/me")
async def me(caller: Me) -> UserOut:
    """The person asking."""
    return UserOut.of(caller.user)


@router.get("/tokens")
async def list_tokens(system: System, caller: Me) -> list[ApiTokenOut]:
    """Your API tokens that still work (their prefixes, never the tokens)."""
    async with system.context.db.session() as db:
        return [ApiTokenOut.of(t) for t in await identity.list_api_tokens(db, caller.user)]


@router.post("/tokens", status_code=201, responses=error_responses(429))
async def create_token(body: TokenIn, system: System, caller: Me) -> NewApiTokenOut:
    """A new API token; the answer holds the token itself, this once."""
    async with system.context.work() as work:
        token, plaintext = await identity.create_api_token(work.db, caller.user, body.name)
    log.info("auth.token_created", user_id=caller.user.id, token_id=token.id)
    return NewApiTokenOut(**ApiTokenOut.of(token).model_dump(), token=plaintext)


@router.delete("/tokens/{token_id}", responses=error_responses(404))
async def revoke_token(system: System, caller: Me,
                       token_id: str = Path(pattern=ID_PATTERN)) -> ApiTokenOut:
    """Revoke one of your API tokens: it stops working at once."""
    async with system.context.work() as work:
        token = await identity.revoke_api_token(work.db, caller.user, token_id)
    log.info("auth.token_revoked", user_id=caller.user.id, token_id=token.id)
    return ApiTokenOut.of(token)
