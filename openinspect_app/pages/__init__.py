"""Pages, registered in one place (``register``), each with its on_load; and the identity gate
every Reflex event passes first (``state/gate.py``)."""

from __future__ import annotations

from functools import partial

import reflex as rx

from openinspect_app import running
from openinspect_app.pages.session import session_page
from openinspect_app.pages.sessions import sessions_page
from openinspect_app.pages.settings import settings_page
from openinspect_app.pages.sign_in import sign_in_page
from openinspect_app.pages.slack_link import slack_link_page
from openinspect_app.routes import SESSION, SESSIONS, SETTINGS, SIGN_IN, SLACK_LINK
from openinspect_app.state.gate import IdentityGate
from openinspect_app.state.secrets import SecretsState
from openinspect_app.state.session import SessionPage, SessionShared, forget_viewers
from openinspect_app.state.sessions import SessionsPage
from openinspect_app.state.settings import SettingsState
from openinspect_app.state.sidebar import SessionSidebar
from openinspect_app.state.sign_in import SignInPage
from openinspect_app.state.slack import SlackLinkPage, SlackSettings


def register(app: rx.App) -> None:
    app.add_middleware(IdentityGate(), index=0)
    forget = partial(forget_viewers, app)
    running.when_installed(lambda r: setattr(r.live.viewers, "forget", forget))
    app.add_page(sessions_page, route=SESSIONS, title="Sessions · Open-Inspect", on_load=SessionsPage.open)
    app.add_page(sign_in_page, route=SIGN_IN, title="Sign in · Open-Inspect", on_load=SignInPage.open)
    app.add_page(settings_page, route=SETTINGS, title="Settings · Open-Inspect",
                 on_load=[SettingsState.open, SecretsState.open, SlackSettings.open])
    app.add_page(slack_link_page, route=SLACK_LINK, title="Link Slack · Open-Inspect", on_load=SlackLinkPage.open)
    app.add_page(
        session_page, route=SESSION, title="Session · Open-Inspect",
        on_load=[SessionShared.join, SessionPage.open, SessionSidebar.open]
    )
