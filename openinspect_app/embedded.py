"""The web process's composition root (and the embedded default's whole system).

It alone turns settings into parts: the database (migrated), the notifier, and
— when the background jobs run in this process (``OPENINSPECT_BACKGROUND_JOBS=
in_process``, the embedded default) — the sandbox backend and the background
manager. The Reflex app calls it from a lifespan task; tests and benchmarks
call it directly. ``backend_jobs/__main__.py`` is the same for a worker alone.
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
from openinspect_app.pg_notifier import notifier_for

log = logging.getLogger(__name__)


class EmbeddedSystem:
    def __init__(self, settings: Settings, *, backend: SandboxBackend | None = None) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.notifier = notifier_for(settings.database_url)
        self.manager: BackgroundManager | None = None
        if settings.background_jobs_in_process:
            backend = backend or create_backend(settings.sandbox_backend, settings)
            self.manager = BackgroundManager(settings, self.db, self.notifier, backend)
        self.context = AppContext(settings, self.db, self.notifier)

    @property
    def backend(self) -> SandboxBackend:
        assert self.manager is not None, "the background jobs run in another process"
        return self.manager.backend

    async def start(self) -> None:
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.db.migrate)
        await self.notifier.start()
        if self.manager is not None:
            await self.manager.start()
        log.info("system.started", extra={"database": self.db.engine.url.render_as_string(hide_password=True),
                                          "background_jobs": "in_process" if self.manager else "elsewhere"})

    async def stop(self) -> None:
        if self.manager is not None:
            await self.manager.stop()
        await self.notifier.close()
        await self.db.dispose()
