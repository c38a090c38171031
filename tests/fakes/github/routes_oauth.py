"""The OAuth web flow of GitHub App user authorization (expiring user tokens, PKCE).

Owns ``GET/POST /login/oauth/authorize`` — a small "Authorize <App>" page with a
``login`` text field and an "Authorize" button (and "Cancel") that redirects (302) to
``redirect_uri`` with ``code`` and ``state``, or ``error=access_denied`` — and
``POST /login/oauth/access_token`` (form, JSON or query parameters; JSON answer when
``Accept: application/json``, urlencoded otherwise). Codes are single use, ten
minutes, bound to the redirect URI and to a PKCE S256 challenge when one was given.
``grant_type=refresh_token`` spends the refresh token and answers a new pair. Errors
are GitHub's: HTTP 200 with ``error``, ``error_description``, ``error_uri``.
"""

from __future__ import annotations

import html
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from .http_common import RecordedRequest, Services
from .tokens import REFRESH_TOKEN_TTL, USER_TOKEN_TTL, pkce_s256
from .world import App

TROUBLE = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/"
OAUTH_ERRORS = {
    "incorrect_client_credentials": ("The client_id and/or client_secret passed are incorrect.",
                                     TROUBLE + "#incorrect-client-credentials"),
    "redirect_uri_mismatch": ("The redirect_uri MUST match the registered callback URL for this application.",
                              TROUBLE + "#redirect-uri-mismatch2"),
    "bad_verification_code": ("The code passed is incorrect or expired.", TROUBLE + "#bad-verification-code"),
    "bad_refresh_token": ("The refresh token passed is incorrect or expired.",
                          "https://docs.github.com/apps/creating-github-apps/authenticating-with-a-github-app/"
                          "refreshing-user-access-tokens"),
    "unsupported_grant_type": ("The grant type is not supported.", TROUBLE),
}
ACCESS_DENIED = ("The user has denied your application access.",
                 "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/"
                 "#access-denied")


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                        f"</head><body><main>{body}</main></body></html>", status_code=status)


def _redirect_allowed(app: App, redirect_uri: str) -> bool:
    """GitHub Apps: same scheme, host and port as a callback URL, path below it; none set: loopback."""
    target = urlsplit(redirect_uri)
    if not app.callback_urls:
        return target.scheme in ("http", "https") and target.hostname in ("127.0.0.1", "localhost", "::1")
    for callback in app.callback_urls:
        allowed = urlsplit(callback)
        if (target.scheme, target.netloc) == (allowed.scheme, allowed.netloc) and \
                target.path.startswith(allowed.path.rstrip("/")):
            return True
    return False


def _with_query(url: str, params: dict[str, str]) -> str:
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


def authorize_page(app: App, params: dict[str, str], error: str | None = None) -> HTMLResponse:
    hidden = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
                     for k, v in params.items() if k not in ("login", "authorize", "cancel"))
    notice = f"<p class='flash-error' role='alert'>{html.escape(error)}</p>" if error else ""
    title = f"Authorize {app.name}"
    return _page(title, f"<h1>{html.escape(title)}</h1>{notice}"
                        f"<p>{html.escape(app.name)} by {html.escape(app.owner.login)} wants to act on your behalf."
                        f"</p><form method='post' action='/login/oauth/authorize'>{hidden}"
                        f"<label for='login'>Username</label> "
                        f"<input type='text' id='login' name='login' value='{html.escape(params.get('login', ''))}'"
                        f" autocomplete='username'> <button type='submit' name='authorize' value='1'>Authorize"
                        f"</button> <button type='submit' name='cancel' value='1'>Cancel</button></form>")


def authorize(services: Services, method: str, params: dict[str, str]) -> Response:
    world = services.world
    app = world.app_by_client_id(params.get("client_id", ""))
    if app is None:
        return _page("Not Found", "<h1>404</h1><p>This is not the web page you are looking for.</p>", 404)
    redirect_uri = params.get("redirect_uri") or (app.callback_urls[0] if app.callback_urls else "")
    if not redirect_uri or not _redirect_allowed(app, redirect_uri):
        return _page("Redirect URI mismatch", "<h1>Be careful!</h1><p>The redirect_uri is not associated with "
                                              "this application.</p>", 400)
    state = {"state": params["state"]} if "state" in params else {}
    challenge, challenge_method = params.get("code_challenge"), params.get("code_challenge_method", "plain")
    if challenge and challenge_method != "S256":
        return RedirectResponse(_with_query(redirect_uri, {"error": "invalid_request", "error_description":
                                "code_challenge_method must be S256", **state}), status_code=302)
    if method == "GET":
        return authorize_page(app, params)
    if params.get("cancel"):
        description, uri = ACCESS_DENIED
        return RedirectResponse(_with_query(redirect_uri, {"error": "access_denied", "error_description": description,
                                                           "error_uri": uri, **state}), status_code=302)
    login = params.get("login", "").strip()
    user = world.account(login) if login else None
    if user is None or user.type != "User":
        return authorize_page(app, params, error=f"There is no user named {login!r}." if login
                              else "Enter a username.")
    code = services.tokens.issue_code(app, user, redirect_uri, challenge, world.now())
    return RedirectResponse(_with_query(redirect_uri, {"code": code.value, **state}), status_code=302)


def _token_answer(body: dict[str, Any], as_json: bool) -> Response:
    if as_json:
        return JSONResponse(body)
    return Response(urlencode(body), media_type="application/x-www-form-urlencoded; charset=utf-8")


def _error(name: str, as_json: bool) -> Response:
    description, uri = OAUTH_ERRORS[name]
    return _token_answer({"error": name, "error_description": description, "error_uri": uri}, as_json)


def access_token(services: Services, params: dict[str, str], accept: str) -> Response:
    world, tokens = services.world, services.tokens
    as_json = "json" in accept.lower()
    app = world.app_by_client_id(params.get("client_id", ""))
    if app is None or not secrets.compare_digest(params.get("client_secret", ""), app.client_secret):
        return _error("incorrect_client_credentials", as_json)
    now = world.now()
    grant = params.get("grant_type", "authorization_code")
    if grant == "refresh_token":
        old = tokens.valid(params.get("refresh_token", ""), now, kind="refresh")
        if old is None or old.app is not app or old.user is None:
            return _error("bad_refresh_token", as_json)
        old.used = True
        user = old.user
    elif grant == "authorization_code":
        code = tokens.redeem_code(params.get("code", ""), app, now)
        if code is None:
            return _error("bad_verification_code", as_json)
        if params.get("redirect_uri") and params["redirect_uri"] != code.redirect_uri:
            return _error("redirect_uri_mismatch", as_json)
        if code.code_challenge is not None and not secrets.compare_digest(
                pkce_s256(params.get("code_verifier", "")), code.code_challenge):
            return _error("bad_verification_code", as_json)
        code.used = True
        user = code.user
    else:
        return _error("unsupported_grant_type", as_json)
    access, refresh = tokens.issue_user_pair(app, user, now)
    return _token_answer({"access_token": access.value, "expires_in": int(USER_TOKEN_TTL.total_seconds()),
                          "refresh_token": refresh.value,
                          "refresh_token_expires_in": int(REFRESH_TOKEN_TTL.total_seconds()),
                          "token_type": "bearer", "scope": ""}, as_json)


def handle(services: Services, method: str, path: str, params: dict[str, str], accept: str) -> Response:
    """Serve one OAuth request under the world's lock and record it."""
    with services.world.lock:
        if path == "/login/oauth/access_token":
            response = access_token(services, params, accept)
        else:
            response = authorize(services, method, params)
        services.requests.append(RecordedRequest(method, path, response.status_code, None, None))
    return response
