"""Who is using this browser.

Embedded default: *local sign-in* — a person gives a display name and an email
(the identity their prompts and commits carry), remembered in the browser's
local storage. It is offered only while the web server listens on loopback,
where everyone who can reach it is already on this machine. GitHub OAuth will be
another way to set the same two values (``identity``), verified by the server.
"""

from __future__ import annotations

import re

import reflex as rx

from openinspect_app import running
from openinspect_app.routes import SESSIONS, SIGN_IN, sign_in_url

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class AuthState(rx.State):
    user_name: str = rx.LocalStorage("", name="openinspect_user_name", sync=True)
    user_email: str = rx.LocalStorage("", name="openinspect_user_email", sync=True)
    sign_in_error: str = ""

    @rx.var
    def signed_in(self) -> bool:
        return bool(self.user_name and self.user_email)

    @rx.var
    def initials(self) -> str:
        return "".join(part[0] for part in self.user_name.split()[:2]).upper() or "?"

    def identity(self) -> tuple[str, str] | None:
        return (self.user_name, self.user_email) if self.signed_in else None

    @rx.event
    def sign_in(self, form: dict[str, str]) -> rx.event.EventSpec | None:
        name, email = form.get("name", "").strip(), form.get("email", "").strip().lower()
        try:
            allowed = running.get().local_sign_in
        except running.NotRunning as exc:
            self.sign_in_error = str(exc)
            return None
        if not allowed:
            self.sign_in_error = ("Local sign-in is only available while the server listens on loopback "
                                  "(OPENINSPECT_WEB_HOST=127.0.0.1).")
            return None
        if not name or len(name) > 200:
            self.sign_in_error = "Please give a display name."
            return None
        if not EMAIL.match(email):
            self.sign_in_error = "Please give an email address (it goes on your commits)."
            return None
        self.user_name, self.user_email, self.sign_in_error = name, email, ""
        target = self.router.url.query_parameters.get("next") or SESSIONS
        return rx.redirect(target if target.startswith("/") else SESSIONS)

    @rx.event
    def sign_out(self) -> rx.event.EventSpec:
        self.user_name = self.user_email = ""
        return rx.redirect(SIGN_IN)

    @rx.event
    def require_sign_in(self) -> rx.event.EventSpec | None:
        if not self.signed_in:
            return rx.redirect(sign_in_url(self.router.url.path or SESSIONS))
        return None
