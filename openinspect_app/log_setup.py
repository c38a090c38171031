"""Logging of the web process: the project's one log style, and quiet for Reflex's noise.

Only our own loggers are configured (Reflex's logging stays as Reflex sets it);
the format follows ``OPENINSPECT_LOG_FORMAT`` (:attr:`Settings.log_json`).
"""

from __future__ import annotations

import logging

from openinspect_protocol import logs

from openinspect_core.settings import Settings

OUR_LOGGERS = ("openinspect_app", "openinspect_core", "backend_jobs")


class _QuietSharedStateUpdates(logging.Filter):
    """Reflex warns on every update of a shared state (its token is not a browser tab)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Attempting to send delta to disconnected client")


def configure(settings: Settings) -> None:
    reflex_app = logging.getLogger("reflex.app")
    if not any(isinstance(f, _QuietSharedStateUpdates) for f in reflex_app.filters):  # once, however often called
        reflex_app.addFilter(_QuietSharedStateUpdates())
    logs.configure(json_lines=settings.log_json, loggers=OUR_LOGGERS)
