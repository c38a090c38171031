"""The sign-in page's state: which way of signing in is offered here, where to go next, what went wrong.

With local sign-in the page posts a plain HTML form to ``/api/auth/local``;
with GitHub it links to ``/api/auth/github/login`` (the HTTP endpoints set the
HttpOnly cookie and redirect to a safe ``next``); nothing here signs anyone in.
Its one handler is public: it reads the settings and the page's query, never a
session.
"""

from __future__ import annotations

import re

import reflex as rx

from openinspect_app import running
from openinspect_app.http.redirects import safe_next
from openinspect_app.routes import SESSIONS, github_sign_in_url
from openinspect_app.state.auth import AuthState
from openinspect_app.state.gate import public

LOCAL, GITHUB, UNAVAILABLE = "local", "github", "unavailable"
UNAVAILABLE_REASON = (
    "Local sign-in (a name and an email) is offered only while the server listens on loopback "
    "(OPENINSPECT_WEB_HOST=127.0.0.1) and is reached there: anyone who can reach it could otherwise sign "
    "in as anyone. This server is configured otherwise and has no other identity provider yet."
)
# What the sign-in endpoints' ``?error=<code>`` means to the person.
ERRORS = {
    "invalid_author": "Please give a display name and an email address (they go on your commits).",
    "invalid_request": "Please give a display name and an email address (they go on your commits).",
    "local_sign_in_unavailable": UNAVAILABLE_REASON,
    "csrf_refused": "Please sign in from this page.",
    "github_state_mismatch": "That sign-in could not be matched to this browser (it may have been started in "
                             "another tab, or taken too long). Please sign in again.",
    "github_denied": "GitHub did not give Open-Inspect access to your account. Sign in again to allow it.",
    "github_failed": "Signing in with GitHub did not work: GitHub could not be reached or refused. "
                     "Please try again in a moment.",
}
NOT_ALLOWED = "github_not_allowed"
# A GitHub login is at most 39 letters, digits and single hyphens: anything else in the query is not one.
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")


def error_message(code: str, login: str | None, orgs: tuple[str, ...]) -> str:
    """What a refusal code from the sign-in endpoints means, in words (``login`` and ``orgs`` for
    ``github_not_allowed``); the page shows it as text, never as markup."""
    if code == NOT_ALLOWED:
        who = login if login and _LOGIN.fullmatch(login) else "Your GitHub account"
        member_of = " or ".join(orgs) if orgs else "the allowed organisations"
        return f"{who} is not a member of {member_of} and not on the allow-list: ask an administrator."
    return ERRORS.get(code, f"Signing in did not work ({code}).")


class SignInPage(AuthState):
    mode: str = ""  # "" until the page has loaded, then LOCAL, GITHUB or UNAVAILABLE
    unavailable_reason: str = ""
    next_path: str = SESSIONS
    github_url: str = ""  # the GitHub sign-in's start, carrying ``next``
    error: str = ""

    @rx.event
    @public
    async def open(self) -> None:
        query = self.router.url.query_parameters
        self.next_path = safe_next(query.get("next"), SESSIONS)
        self.github_url = github_sign_in_url(self.next_path)
        code = (query.get("error") or "")[:50]
        try:
            r = running.get()
        except running.NotRunning as exc:
            self.error = error_message(code, query.get("login"), ()) if code else ""
            self.mode, self.unavailable_reason = UNAVAILABLE, str(exc)
            return
        settings = r.context.settings
        self.error = error_message(code, query.get("login"), settings.github_orgs) if code else ""
        if settings.identity_provider == GITHUB:
            self.mode, self.unavailable_reason = GITHUB, ""
            return
        allowed = r.local_sign_in
        self.mode = LOCAL if allowed else UNAVAILABLE
        self.unavailable_reason = "" if allowed else UNAVAILABLE_REASON
