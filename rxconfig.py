"""Reflex configuration. Nothing here reads secrets; the app's settings come from
OPENINSPECT_* variables (see README) when the server starts, not at import.

Reflex answers CORS (and the event socket checks ``Origin``) by
``cors_allowed_origins``: only the app's own origin, never "*" — with "*" any page
the operator visits could call the API with their cookie, or open the event socket.
"""

import os

import reflex as rx

from openinspect_app.http.origins import own_origins
from openinspect_core.settings import Settings

# Read for the addresses only (the same values the server uses when it starts).
_settings = Settings.from_env(os.environ)

config = rx.Config(
    app_name="openinspect_app",
    # Production mode serves the pages and the backend (REST API included) on one port.
    frontend_port=_settings.web_port,
    backend_port=_settings.web_port,
    # Loopback unless asked otherwise: the embedded default's local sign-in relies on it.
    backend_host=_settings.web_host,
    cors_allowed_origins=list(own_origins(_settings)),
    # Tab state (its request headers, the sign-in cookie among them) stays in memory; the default
    # disk store pickles it into .states/ (docs/security.md, "Web UI"). One backend worker without Redis.
    state_manager_mode=rx.constants.StateManagerMode.MEMORY,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.SitemapPlugin(), rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo"))],
)
