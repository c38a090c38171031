"""The running system, as Reflex event handlers reach it.

Reflex builds state classes at import time and calls their handlers with no
place to inject anything, so the composition root installs the running parts
here when the server starts and removes them when it stops. Nothing else in
the project reads globals.
"""

from __future__ import annotations

from dataclasses import dataclass

from openinspect_app.live.projector import LiveSessions
from openinspect_core.context import AppContext


class NotRunning(RuntimeError):
    pass


@dataclass(frozen=True)
class Running:
    context: AppContext
    live: LiveSessions
    local_sign_in: bool  # the web server listens on loopback only


_running: Running | None = None


def install(running: Running | None) -> None:
    global _running
    _running = running


def get() -> Running:
    if _running is None:
        raise NotRunning("the system is starting; try again in a moment")
    return _running
