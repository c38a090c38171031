"""The running system, as Reflex event handlers reach it.

Reflex builds state classes at import time and calls their handlers with no
place to inject anything, so the composition root installs the running parts
here when the server starts and removes them when it stops. Nothing else in
the project reads globals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from openinspect_app.live.projector import LiveSessions
from openinspect_app.live.session_changes import SessionChanges
from openinspect_app.live.sign_ins import SignInCache
from openinspect_app.slack_bot import SlackBotHandle
from openinspect_core.context import AppContext


class NotRunning(RuntimeError):
    pass


@dataclass(frozen=True)
class Running:
    context: AppContext
    live: LiveSessions
    local_sign_in: bool  # the web server listens on loopback only
    sign_ins: SignInCache = field(default_factory=SignInCache)  # verified sign-ins per tab (state/viewer.py)
    slack: SlackBotHandle | None = None  # the Slack bot, when it runs in this process (the link page resumes it)
    session_changes: SessionChanges | None = None  # "some session changed", for the session page's sidebar


_running: Running | None = None
# What the pages wire into the running parts once they exist (they are built after the pages).
_on_install: list[Callable[[Running], None]] = []


def when_installed(hook: Callable[[Running], None]) -> None:
    """Run ``hook`` on the running parts each time they are installed."""
    _on_install.append(hook)


def install(running: Running | None) -> None:
    global _running
    _running = running
    if running is not None:
        for hook in _on_install:
            hook(running)


def get() -> Running:
    if _running is None:
        raise NotRunning("the system is starting; try again in a moment")
    return _running
