"""The embedded default's composition root: web context and background jobs in one process.

It alone turns settings into parts: the database (migrated), the notifier, the
sandbox backend and the background manager. The Reflex app calls it from a
lifespan task; tests and benchmarks call it directly.
"""

from __future__ import annotations

import asyncio
import logging

from backend_jobs.manager import BackgroundManager
from backend_jobs.sandboxes import create_backend
from backend_jobs.sandboxes.base import SandboxBackend
from openinspect_app.config import Settings
from openinspect_app.context import AppContext
from openinspect_app.db import Database
from openinspect_app.notifier import Notifier

log = logging.getLogger(__name__)


class EmbeddedSystem:
    def __init__(self, settings: Settings, *, backend: SandboxBackend | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.notifier = Notifier()
        self.backend = backend or create_backend(settings.sandbox_backend, settings)
        self.manager = BackgroundManager(settings, self.db, self.notifier, self.backend)
        self.context = AppContext(settings, self.db, self.notifier)

    async def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.db.migrate)
        await self.manager.start()
        log.info("system.started", extra={"database": self.db.engine.url.render_as_string(hide_password=True),
                                          "backend": self.backend.name})

    async def stop(self) -> None:
        await self.manager.stop()
        await self.db.dispose()
