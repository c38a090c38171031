"""Pages, registered in one place (``register``), each with its on_load."""

from __future__ import annotations

import reflex as rx

from openinspect_app.pages.session import session_page
from openinspect_app.pages.sessions import sessions_page
from openinspect_app.pages.sign_in import sign_in_page
from openinspect_app.routes import SESSION, SESSIONS, SIGN_IN
from openinspect_app.state.session import SessionPage, SessionShared
from openinspect_app.state.sessions import SessionsPage


def register(app: rx.App) -> None:
    app.add_page(sessions_page, route=SESSIONS, title="Sessions · Open-Inspect", on_load=SessionsPage.open)
    app.add_page(sign_in_page, route=SIGN_IN, title="Sign in · Open-Inspect")
    app.add_page(
        session_page, route=SESSION, title="Session · Open-Inspect", on_load=[SessionShared.join, SessionPage.open]
    )
