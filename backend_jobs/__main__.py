"""The background worker on its own: ``python -m backend_jobs``.

The composition root of a worker process (production: the web process runs
with ``OPENINSPECT_BACKGROUND_JOBS=off``; both use PostgreSQL, whose
LISTEN/NOTIFY carries "session changed" between them). It reads the
environment once, migrates the database, runs the bridge server, dispatcher,
supervision and timers, and shuts down cleanly on SIGTERM/SIGINT (every
sandbox it runs gets a shutdown first).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from backend_jobs.manager import BackgroundManager
from backend_jobs.sandboxes import create_backend
from openinspect_app import logs
from openinspect_app.config import ConfigError, Settings
from openinspect_app.db import Database
from openinspect_app.pg_notifier import notifier_for

log = logging.getLogger("backend_jobs.worker")


async def run(settings: Settings) -> None:
    db = Database(settings.database_url)
    await asyncio.to_thread(db.migrate)
    notifier = notifier_for(settings.database_url)
    await notifier.start()
    manager = BackgroundManager(settings, db, notifier, create_backend(settings.sandbox_backend, settings))
    await manager.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    log.info("worker.started", extra={"backend": manager.backend.name, "bridge_url": manager.control_plane_url()})
    await stopping.wait()
    log.info("worker.stopping")
    await manager.stop()
    await notifier.close()
    await db.dispose()


def main() -> int:
    logs.configure()
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        log.error("worker.config_error", extra={"error": str(error)})
        return 2
    if not settings.database_url.startswith("postgresql"):
        log.warning("worker.sqlite", extra={"hint": "a separate worker needs PostgreSQL to reach the web process"})
    asyncio.run(run(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
