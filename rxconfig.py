"""Reflex configuration. Nothing here reads secrets; the app's settings come from
OPENINSPECT_* variables (see README) when the server starts, not at import."""

import os

import reflex as rx

# Production mode serves the pages and the backend (REST API included) on one port.
WEB_PORT = int(os.environ.get("OPENINSPECT_WEB_PORT", "3000"))

config = rx.Config(
    app_name="openinspect_app",
    frontend_port=WEB_PORT,
    backend_port=WEB_PORT,
    # Loopback unless asked otherwise: the embedded default's local sign-in relies on it.
    backend_host=os.environ.get("OPENINSPECT_WEB_HOST", "127.0.0.1"),
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.SitemapPlugin(), rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo"))],
)
