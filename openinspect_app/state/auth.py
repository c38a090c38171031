"""Who is using this tab, as the server knows it.

The person is whoever the HttpOnly sign-in cookie names (``state/viewer.py``),
verified on the server for every event; nothing the browser keeps or sends
says who it is. Signing in and out are plain form posts to the HTTP endpoints
(``/api/auth/local``, ``/api/auth/sign-out``), because only an HTTP response can
set an HttpOnly cookie. The name and email a page shows are copied here from
the ``User`` row by the identity gate (``state/gate.py``) — display only: a
handler that acts asks ``_viewer()``, which checks the cookie itself. (Helpers here are
private: Reflex makes every public method of a state an event handler a page may call.)
"""

from __future__ import annotations

from typing import Any

import reflex as rx

from openinspect_app.live.sign_ins import Viewer
from openinspect_app.routes import SESSIONS, sign_in_url
from openinspect_app.state.viewer import who_is_asking

NOT_SIGNED_IN = "You are not signed in (or your sign-in ended). Sign in again to go on."


class AuthState(rx.State):
    # Shown by the top bar; set by the identity gate from the server's lookup, never by the browser.
    user_name: str = ""
    user_email: str = ""
    signed_in: bool = False
    auth_notice: str = ""  # why the last event was refused
    _user_id: str = ""  # whose state this tab holds (the gate resets it all when that changes)

    @rx.var
    def initials(self) -> str:
        return "".join(part[0] for part in self.user_name.split()[:2]).upper() or "?"

    async def _viewer(self) -> Viewer | None:
        """The person asking now (the cookie checked on the server), or None with a notice set."""
        viewer = await who_is_asking(self.router.headers.cookie, self.router.session.client_token)
        if viewer is None:
            self.auth_notice = NOT_SIGNED_IN
            return None
        return viewer

    def _show_viewer(self, viewer: Viewer | None) -> None:
        """Show ``viewer`` as the person of this tab (the gate calls it; display only)."""
        self._user_id = viewer.user_id if viewer else ""
        self.user_name = viewer.name if viewer else ""
        self.user_email = viewer.email if viewer else ""
        self.signed_in = viewer is not None
        if viewer is not None:
            self.auth_notice = ""

    def _to_sign_in(self) -> Any:
        """The redirect a page load gets when nobody is signed in: back here afterwards (with the page's
        query: the Slack link page's code, say)."""
        url = self.router.url
        return rx.redirect(sign_in_url((url.path or SESSIONS) + (f"?{url.query}" if url.query else "")))
