"""The web process: the Reflex app, the REST API mounted beside it, and (embedded
default) the background jobs started by a lifespan task."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import reflex as rx

from openinspect_app import logs
from openinspect_app.api.app import attach, build_api
from openinspect_app.config import Settings

api = build_api()


def index() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.heading("Open-Inspect"),
            rx.text("The REST API is at /api (documentation at /api/docs)."),
        ),
        height="100vh",
    )


app = rx.App(api_transformer=api)
app.add_page(index, route="/", title="Open-Inspect")


@asynccontextmanager
async def embedded_system() -> AsyncIterator[None]:
    from openinspect_app.embedded import EmbeddedSystem  # composition happens at start, not import

    logs.configure()
    system = EmbeddedSystem(Settings.from_env(os.environ))
    await system.start()
    attach(api, system.context)
    try:
        yield
    finally:
        attach(api, None)
        await system.stop()


app.register_lifespan_task(embedded_system)
