"""GitHub over HTTP: sign-in with GitHub, the App's webhooks, and the repository picker's lists.

- ``GET /api/auth/github/login?next=`` sends the browser to GitHub's authorize page.
  The state and the PKCE verifier wait in a short-lived cookie (:data:`STATE_COOKIE`,
  10 min, signed with the session secret under its own derived key, HttpOnly,
  SameSite=Lax, sent only to ``/api/auth/github``), never in the database: nothing
  is stored for a sign-in that is never finished.
- ``GET /api/auth/github/callback`` checks the state (a mismatch is a sign-in
  another site started: login CSRF), exchanges the code, asks GitHub who this is
  and whether they may sign in, and sets the normal sign-in cookie. A refusal
  goes back to the sign-in page with ``?error=<code>`` (and ``login=`` when known):
  ``github_state_mismatch``, ``github_denied``, ``github_not_allowed``,
  ``github_email_taken``, ``github_failed``.
- ``POST /api/github/webhooks`` (public: GitHub signs it instead) — the rules are
  :mod:`openinspect_core.github.webhooks`'; this only reads the request.
- ``GET /api/repos?q=`` and ``GET /api/repos/{owner}/{repo}/branches``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from openinspect_protocol import logs
from openinspect_protocol.logs import EventLog
from starlette.requests import cookie_parser

from openinspect_app.api.deps import Me, System
from openinspect_app.api.errors import COMMON_ERRORS, ApiRefusal, error_responses
from openinspect_app.api.schemas import BranchOut, GitHubRepoOut
from openinspect_app.http import cookies
from openinspect_app.http.authn import sign_in_token
from openinspect_app.http.policy import Attached
from openinspect_app.http.redirects import safe_next
from openinspect_app.routes import SIGN_IN
from openinspect_core.github import accounts, oauth, repos, webhooks
from openinspect_core.github.client import GitHubError
from openinspect_core.services import identity

log = EventLog(__name__)
router = APIRouter(responses=error_responses(*COMMON_ERRORS))

LOGIN_PATH = "/auth/github/login"
CALLBACK_PATH = "/auth/github/callback"
WEBHOOK_PATH = "/github/webhooks"
STATE_COOKIE = "openinspect_github_oauth"
STATE_COOKIE_PATH = "/api/auth/github"  # the browser sends it to the callback and nowhere else
STATE_TTL_SECONDS = 600  # Why: long enough to read GitHub's authorize page, short enough to be useless later
MAX_STATE_COOKIE_CHARS = 4000  # browsers keep about 4 KB per cookie
# Why a key of its own: a state cookie is never a sign-in cookie, whatever its shape.
_STATE_KEY_CONTEXT = b"openinspect-github-oauth-state"
_OWNER = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$"
_REPO_NAME = r"^[A-Za-z0-9._-]{1,100}$"


# -- the state cookie ------------------------------------------------------------------------------------


def _state_key(session_secret: bytes) -> bytes:
    return hmac.new(session_secret, _STATE_KEY_CONTEXT, hashlib.sha256).digest()


def pack_state(pending: oauth.PendingSignIn, session_secret: bytes, now: float | None = None) -> str:
    """The cookie value: the pending sign-in and its expiry, signed (cookies.sign) with the derived key."""
    payload = json.dumps({"s": pending.state, "v": pending.code_verifier, "n": pending.next_path,
                          "e": int((time.time() if now is None else now) + STATE_TTL_SECONDS)}, separators=(",", ":"))
    return cookies.sign(base64.urlsafe_b64encode(payload.encode()).decode().rstrip("="), _state_key(session_secret))


def unpack_state(value: str | None, session_secret: bytes, now: float | None = None) -> oauth.PendingSignIn | None:
    """The pending sign-in of a cookie we signed that has not expired; None for anything else."""
    if not value or len(value) > MAX_STATE_COOKIE_CHARS:
        return None
    body, dot, _ = value.rpartition(".")
    if not dot or not hmac.compare_digest(cookies.sign(body, _state_key(session_secret)).encode(), value.encode()):
        return None
    try:
        data: Any = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if int(data["e"]) < (time.time() if now is None else now):
            return None
        return oauth.PendingSignIn(state=str(data["s"]), code_verifier=str(data["v"]),
                                   next_path=safe_next(str(data["n"])))
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None


def _state_cookie(value: str, max_age: int, secure: bool) -> str:
    return (f"{STATE_COOKIE}={value}; Max-Age={max_age}; Path={STATE_COOKIE_PATH}; HttpOnly; SameSite=Lax"
            + ("; Secure" if secure else ""))


# -- sign-in -----------------------------------------------------------------------------------------------


def _refused(code: str, system: Attached, login: str | None = None) -> RedirectResponse:
    query = {"error": code} | ({"login": login} if login else {})
    answer = RedirectResponse(f"{SIGN_IN}?{urlencode(query)}", status_code=303)
    answer.headers.append("set-cookie", _state_cookie("", 0, system.policy.secure_cookies))
    return answer


def _config(system: Attached) -> oauth.OAuthConfig | None:
    if not system.policy.github_sign_in or system.context.github is None:
        return None
    return oauth.OAuthConfig.from_settings(system.context.settings)


@router.get(LOGIN_PATH, status_code=303, response_class=Response,
            responses={303: {"description": "On to GitHub's authorize page (or back to sign-in, refused)"}})
async def github_login(system: System, next: str | None = Query(None, max_length=2000)) -> Response:
    """Start signing in with GitHub."""
    config = _config(system)
    if config is None:
        return _refused("github_unavailable", system)
    url, pending = oauth.start(config, safe_next(next))
    answer = RedirectResponse(url, status_code=303)
    answer.headers.append("set-cookie", _state_cookie(pack_state(pending, system.policy.session_secret),
                                                      STATE_TTL_SECONDS, system.policy.secure_cookies))
    return answer


@router.get(CALLBACK_PATH, status_code=303, response_class=Response,
            responses={303: {"description": "Signed in: on to `next`; or back to sign-in with ?error="}})
async def github_callback(request: Request, system: System, code: str | None = Query(None, max_length=200),
                          state: str | None = Query(None, max_length=200),
                          error: str | None = Query(None, max_length=200)) -> Response:
    """GitHub sends the browser back here; on success the sign-in cookie is set."""
    config = _config(system)
    if config is None:
        return _refused("github_unavailable", system)
    github = system.context.github
    assert github is not None
    pending = unpack_state(cookie_parser(request.headers.get("cookie", "")).get(STATE_COOKIE),
                           system.policy.session_secret)
    if not oauth.state_matches(pending, state):
        log.warning("auth.github_state_mismatch", had_cookie=pending is not None)
        return _refused("github_state_mismatch", system)
    assert pending is not None
    if error is not None:
        return _refused("github_denied" if error == "access_denied" else "github_failed", system)
    if not code:
        return _refused("github_failed", system)
    try:
        tokens = await oauth.exchange(config, pending, code)
        profile = await accounts.fetch_profile(github, tokens.access_token)
        allowed = await accounts.is_allowed(github, system.context.settings, tokens.access_token, profile.login)
    except (oauth.OAuthFailed, GitHubError) as exc:
        log.warning("auth.github_failed", error=str(exc)[:300])
        return _refused("github_failed", system)
    if not allowed:
        log.info("auth.github_not_allowed", login=profile.login)
        return _refused("github_not_allowed", system, profile.login)
    policy = system.policy
    previous = sign_in_token(request.headers, policy)
    try:
        async with system.context.work() as work:
            if previous is not None:
                await identity.sign_out(work.db, previous)  # a browser holds one sign-in at a time
            user, token = await accounts.sign_in_github(work.db, system.context.cipher, profile, tokens,
                                                        ttl_seconds=policy.session_ttl_seconds)
    except accounts.EmailTaken:
        log.warning("auth.github_email_taken", login=profile.login)
        return _refused("github_email_taken", system, profile.login)
    log.info("auth.signed_in", user_id=user.id, provider=accounts.PROVIDER, login=profile.login)
    answer = RedirectResponse(pending.next_path, status_code=303)
    answer.headers.append("set-cookie", cookies.set_cookie(cookies.sign(token, policy.session_secret),
                                                           max_age=policy.session_ttl_seconds,
                                                           secure=policy.secure_cookies))
    answer.headers.append("set-cookie", _state_cookie("", 0, policy.secure_cookies))
    return answer


# -- webhooks ----------------------------------------------------------------------------------------------


@router.post(WEBHOOK_PATH, responses={200: {"description": "Handled (or a redelivery: nothing done twice)"},
                                      **error_responses(404)})
async def github_webhook(request: Request, system: System) -> JSONResponse:
    """A delivery from GitHub; refused (401, nothing stored) unless its signature matches."""
    github = system.context.github
    if github is None:
        raise ApiRefusal(404, "not_found", "no GitHub App is configured here")
    body = await request.body()
    if not webhooks.signature_valid(github.webhook_secret, body, request.headers.get("x-hub-signature-256")):
        log.warning("github.webhook_bad_signature", delivery=request.headers.get("x-github-delivery", "")[:64])
        raise ApiRefusal(401, "bad_signature", "the X-Hub-Signature-256 header does not match this body")
    delivery = request.headers.get("x-github-delivery", "").strip()
    event = request.headers.get("x-github-event", "").strip()
    if not delivery or not event:
        raise ApiRefusal(400, "invalid_request", "X-GitHub-Delivery and X-GitHub-Event are required")
    try:
        payload = json.loads(body)
    except ValueError:
        raise ApiRefusal(400, "invalid_request", "the body is not JSON") from None
    if not isinstance(payload, dict):
        raise ApiRefusal(400, "invalid_request", "the body is not a JSON object")
    # Every line about this delivery names it (GitHub's delivery ids are UUIDs; anything else is not bound).
    with logs.bind(delivery_id=delivery if logs.VALID_ID.match(delivery) else None):
        handled = await webhooks.handle(system.context, delivery_id=delivery, event=event, payload=payload)
    return JSONResponse({"outcome": handled.outcome})


# -- repositories ------------------------------------------------------------------------------------------


@router.get("/repos")
async def list_repos(system: System, _: Me, q: str = Query("", max_length=200),
                     limit: int = Query(20, ge=1, le=repos.MAX_SEARCH_RESULTS)) -> list[GitHubRepoOut]:
    """The GitHub App's repositories whose owner/name or description contains ``q`` (none without an App)."""
    if system.context.github is None:
        return []
    async with system.context.db.session() as db:
        found = await repos.search(db, q, limit)
    return [GitHubRepoOut(full_name=r.full_name or r.name, default_branch=r.default_branch, private=r.private,
                          description=r.description) for r in found]


@router.get("/repos/{owner}/{repo}/branches", responses=error_responses(404))
async def list_branches(system: System, _: Me, owner: str = Path(pattern=_OWNER),
                        repo: str = Path(pattern=_REPO_NAME)) -> list[BranchOut]:
    """The repository's branches, its default first."""
    try:
        names = await repos.branches(system.context, f"{owner}/{repo}")
    except GitHubError as exc:
        raise ApiRefusal(502, "github_refused", str(exc)) from None
    async with system.context.db.session() as db:
        row = await repos.usable(db, f"{owner}/{repo}")
    default = row.default_branch if row is not None else None
    return [BranchOut(name=name, default=name == default) for name in names]
