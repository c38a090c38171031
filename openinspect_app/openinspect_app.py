"""The web process: the Reflex app, the REST API mounted beside it, and the control
plane (with the background jobs on the embedded default) started by a lifespan task.

The REST API app is Reflex's ``api_transformer``: Reflex mounts its own routes (pages,
the event socket) inside it, so the API's HTTP boundary (trusted hosts, own-origin
CORS, bounded bodies; ``openinspect_app/http``) guards them too."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import reflex as rx

from openinspect_app import log_setup, pages, running
from openinspect_app.api import presence
from openinspect_app.api.app import attach, build_api
from openinspect_app.http.policy import check_listening, local_sign_in_allowed
from openinspect_app.live.projector import LiveSessions
from openinspect_app.live.session_changes import SessionChanges
from openinspect_app.state.session import SessionShared
from openinspect_core.settings import Settings

api = build_api()
app = rx.App(api_transformer=api, head_components=[rx.script(presence.SCRIPT)])
pages.register(app)


@asynccontextmanager
async def control_plane() -> AsyncIterator[None]:
    # Composition happens at start, not import: Reflex imports this module to compile the pages too.
    from backend_jobs.control_plane import ControlPlane

    settings = Settings.from_env(os.environ)
    check_listening(settings)  # before anything starts: beyond loopback needs an identity provider
    log_setup.configure(settings)
    plane = ControlPlane(settings)
    await plane.start()
    live = LiveSessions(plane.context, publish_to_viewers)
    changes = SessionChanges(plane.context.notifier)
    running.install(running.Running(plane.context, live, local_sign_in=local_sign_in_allowed(settings),
                                    slack=plane.slack, session_changes=changes))
    attach(api, plane.context, plane.slack)
    try:
        yield
    finally:
        attach(api, None)
        running.install(None)
        await changes.close()
        await live.close()
        await plane.stop()


async def publish_to_viewers(session_id: str, changes: dict[str, Any]) -> None:
    """Write into the session's shared state; Reflex sends the change to every linked viewer."""
    async with app.modify_state(rx.BaseStateToken(ident=session_id, cls=SessionShared)) as root:
        shared = await root.get_state(SessionShared)
        for name, value in changes.items():
            setattr(shared, name, value)


app.register_lifespan_task(control_plane)
