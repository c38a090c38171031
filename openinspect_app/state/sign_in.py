"""The sign-in page's state: whether local sign-in is offered here, where to go next, what went wrong.

The page itself posts a plain HTML form to ``/api/auth/local`` (the endpoint sets
the HttpOnly cookie and redirects to a safe ``next``); nothing here signs anyone
in. Its one handler is public: it reads the settings, never a session.
"""

from __future__ import annotations

import reflex as rx

from openinspect_app import running
from openinspect_app.http.redirects import safe_next
from openinspect_app.routes import SESSIONS
from openinspect_app.state.auth import AuthState
from openinspect_app.state.gate import public

LOCAL, UNAVAILABLE = "local", "unavailable"
UNAVAILABLE_REASON = (
    "Local sign-in (a name and an email) is offered only while the server listens on loopback "
    "(OPENINSPECT_WEB_HOST=127.0.0.1) and is reached there: anyone who can reach it could otherwise sign "
    "in as anyone. This server is configured otherwise and has no other identity provider yet."
)
# What the sign-in endpoint's ``?error=<code>`` means to the person.
ERRORS = {
    "invalid_author": "Please give a display name and an email address (they go on your commits).",
    "invalid_request": "Please give a display name and an email address (they go on your commits).",
    "local_sign_in_unavailable": UNAVAILABLE_REASON,
    "csrf_refused": "Please sign in from this page.",
}


class SignInPage(AuthState):
    mode: str = ""  # "" until the page has loaded, then LOCAL or UNAVAILABLE
    unavailable_reason: str = ""
    next_path: str = SESSIONS
    error: str = ""

    @rx.event
    @public
    async def open(self) -> None:
        query = self.router.url.query_parameters
        self.next_path = safe_next(query.get("next"), SESSIONS)
        code = (query.get("error") or "")[:50]
        self.error = ERRORS.get(code, f"Signing in did not work ({code}).") if code else ""
        try:
            allowed = running.get().local_sign_in
        except running.NotRunning as exc:
            self.mode, self.unavailable_reason = UNAVAILABLE, str(exc)
            return
        self.mode = LOCAL if allowed else UNAVAILABLE
        self.unavailable_reason = "" if allowed else UNAVAILABLE_REASON
